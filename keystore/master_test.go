package keystore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// roundTrip reports whether b decrypts what a encrypts, i.e. they hold the
// same key.
func roundTrip(t *testing.T, a, b tink.AEAD) bool {
	t.Helper()
	ct, err := a.Encrypt([]byte("hello"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := b.Decrypt(ct, []byte("ad"))
	return err == nil && bytes.Equal(pt, []byte("hello"))
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
	path := filepath.Join(t.TempDir(), "master.key")
	a, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("created with mode %04o, want 0600", fi.Mode().Perm())
	}
	content, _ := os.ReadFile(path)
	if _, err := ParseMasterKey(string(content)); err != nil {
		t.Errorf("file content is not in the documented format: %v", err)
	}

	b, err := LoadOrCreateMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !roundTrip(t, a, b) {
		t.Error("second load returned a different key")
	}

	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateMasterKey(path)
		if !errors.Is(err, ErrInsecureKeyFile) {
			t.Errorf("mode %04o: err = %v, want ErrInsecureKeyFile", mode, err)
		} else if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: err = %q, want a chmod hint", mode, err)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateMasterKey(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadMasterKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	secret := "do-not-echo-this-secret"
	tests := []struct {
		name    string
		content string
		want    error
	}{
		{"empty", "", ErrInvalidMasterKey},
		{"not base64", secret, ErrInvalidMasterKey},
		{"16 bytes", "AAAAAAAAAAAAAAAAAAAAAA==", ErrInvalidMasterKey},
		{"too large", strings.Repeat("A", 4096), ErrInvalidMasterKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateMasterKey(path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes the file content", err)
			}
		})
	}
	if _, err := LoadOrCreateMasterKey(dir); err == nil {
		t.Error("a directory was accepted as a master key file")
	}
	if _, err := LoadOrCreateMasterKey(""); err == nil {
		t.Error("an empty path was accepted")
	}
	if _, err := LoadOrCreateMasterKey(filepath.Join(dir, "missing", "master.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: err = %v, want fs.ErrNotExist", err)
	}
}

func TestParseMasterKey(t *testing.T) {
	good, err := GenerateMasterKeyString()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"generated", good, true},
		{"with newline", good + "\n", true},
		{"with spaces", "  " + good + "\t", true},
		{"unpadded", strings.TrimRight(good, "="), false},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(good) + "-_", false},
		{"empty", "", false},
		{"31 bytes", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", false},
		{"33 bytes", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMasterKey(tc.in)
			if tc.ok && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidMasterKey) {
				t.Errorf("err = %v, want ErrInvalidMasterKey", err)
			}
		})
	}
	a, _ := GenerateMasterKeyString()
	if a == good {
		t.Error("GenerateMasterKeyString returned the same key twice")
	}
}

func TestMasterEnvPrecedence(t *testing.T) {
	dir := t.TempDir()
	envKey, err := GenerateMasterKeyString()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseMasterKey(envKey)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("env set wins and no file is made", func(t *testing.T) {
		t.Setenv(EnvMasterKey, envKey)
		path := filepath.Join(dir, "unused.key")
		got, err := Master(path)
		if err != nil {
			t.Fatal(err)
		}
		if !roundTrip(t, want, got) {
			t.Error("Master did not use the environment variable")
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Master created %s although the environment variable was set", path)
		}
	})
	t.Run("env set wins over an existing file", func(t *testing.T) {
		path := filepath.Join(dir, "existing.key")
		fileKey, err := LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(EnvMasterKey, envKey)
		got, err := Master(path)
		if err != nil {
			t.Fatal(err)
		}
		if !roundTrip(t, want, got) || roundTrip(t, fileKey, got) {
			t.Error("Master used the file, not the environment variable")
		}
	})
	t.Run("env empty falls back to the file", func(t *testing.T) {
		t.Setenv(EnvMasterKey, "")
		path := filepath.Join(dir, "fallback.key")
		got, err := Master(path)
		if err != nil {
			t.Fatal(err)
		}
		fromFile, err := LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !roundTrip(t, fromFile, got) {
			t.Error("Master did not use the file")
		}
	})
	t.Run("env invalid is an error, not a fallback", func(t *testing.T) {
		t.Setenv(EnvMasterKey, "do-not-echo-this-secret")
		_, err := Master(filepath.Join(dir, "never.key"))
		if !errors.Is(err, ErrInvalidMasterKey) {
			t.Fatalf("err = %v, want ErrInvalidMasterKey", err)
		}
		if strings.Contains(err.Error(), "do-not-echo") {
			t.Errorf("error %q echoes the variable's value", err)
		}
	})
	t.Run("custom variable name", func(t *testing.T) {
		t.Setenv("AGENTID_TEST_MASTER", envKey)
		got, err := MasterKeyFromEnv("AGENTID_TEST_MASTER")
		if err != nil {
			t.Fatal(err)
		}
		if !roundTrip(t, want, got) {
			t.Error("MasterKeyFromEnv read the wrong key")
		}
		if _, err := MasterKeyFromEnv("AGENTID_TEST_UNSET_VARIABLE"); err == nil {
			t.Error("MasterKeyFromEnv succeeded with an unset variable")
		}
	})
}

func FuzzParseMasterKey(f *testing.F) {
	good, _ := GenerateMasterKeyString()
	for _, s := range []string{good, "", "====", "AAAA", strings.Repeat("A", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseMasterKey(s)
		if err != nil && len(s) >= 8 && strings.Contains(err.Error(), s) {
			t.Errorf("error %q echoes the input", err)
		}
	})
}
