package keystore

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// EnvMasterKey is the environment variable that [Master] reads the master
// key from: standard base64 (with padding) of 32 random bytes, as made by
// [GenerateMasterKeyString].
const EnvMasterKey = "AGENTID_MASTER_KEY"

const (
	masterKeySize = 32 // AES-256-GCM
	// maxMasterKeyFile bounds how much of a master key file is read; the
	// expected content is 44 characters and a newline.
	maxMasterKeyFile = 1024
)

// GenerateMasterKeyString returns a new random master key in the format
// [ParseMasterKey], [EnvMasterKey] and master key files use. It is meant for
// operators setting AGENTID_MASTER_KEY; treat the result as a secret.
func GenerateMasterKeyString() (string, error) {
	raw := make([]byte, masterKeySize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("keystore: generate master key: %v", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// ParseMasterKey returns the AES-256-GCM AEAD for a master key written as
// standard base64 of 32 bytes. Surrounding white space is ignored. Errors
// wrap [ErrInvalidMasterKey] and never include the key.
func ParseMasterKey(s string) (tink.AEAD, error) {
	s = strings.TrimSpace(s)
	if base64.StdEncoding.DecodedLen(len(s)) > 2*masterKeySize {
		return nil, fmt.Errorf("keystore: %w: too long", ErrInvalidMasterKey)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	defer clear(raw)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w: not standard base64", ErrInvalidMasterKey)
	}
	if len(raw) != masterKeySize {
		return nil, fmt.Errorf("keystore: %w: %d bytes, want %d", ErrInvalidMasterKey, len(raw), masterKeySize)
	}
	params, err := aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: masterKeySize,
		IVSizeInBytes:  12,
		TagSizeInBytes: 16,
		Variant:        aesgcm.VariantNoPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: master key parameters: %v", err)
	}
	k, err := aesgcm.NewKey(secretdata.NewBytesFromData(raw, insecuresecretdataaccess.Token{}), 0, params)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", ErrInvalidMasterKey)
	}
	a, err := aesgcm.NewAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", ErrInvalidMasterKey)
	}
	return a, nil
}

// MasterKeyFromEnv reads the master key from the environment variable name,
// or from [EnvMasterKey] if name is empty. It fails if the variable is unset
// or empty.
func MasterKeyFromEnv(name string) (tink.AEAD, error) {
	if name == "" {
		name = EnvMasterKey
	}
	v := os.Getenv(name)
	if v == "" {
		return nil, fmt.Errorf("keystore: master key variable %s is not set", name)
	}
	a, err := ParseMasterKey(v)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, name)
	}
	return a, nil
}

// Master returns the master AEAD: from [EnvMasterKey] when that variable is
// set and not empty, otherwise from the file at path via
// [LoadOrCreateMasterKey].
func Master(path string) (tink.AEAD, error) {
	if os.Getenv(EnvMasterKey) != "" {
		return MasterKeyFromEnv(EnvMasterKey)
	}
	return LoadOrCreateMasterKey(path)
}

// ErrNoMasterKey is returned by [LoadMaster] when neither [EnvMasterKey]
// nor the master key file is there.
var ErrNoMasterKey = errors.New("master key is missing")

// LoadMaster is [Master] for data that already exists: it reads the master
// key from [EnvMasterKey] or the file at path, and never creates one. A
// missing file is an error wrapping [ErrNoMasterKey] (and fs.ErrNotExist):
// a new key cannot read what the old one encrypted.
func LoadMaster(path string) (tink.AEAD, error) {
	if os.Getenv(EnvMasterKey) != "" {
		return MasterKeyFromEnv(EnvMasterKey)
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keystore: %w: %s does not exist and %s is not set: %w", ErrNoMasterKey, path, EnvMasterKey, fs.ErrNotExist)
	}
	return loadMasterKeyFile(path)
}

// LoadOrCreateMasterKey returns the master AEAD stored in the file at path.
// If the file does not exist, it creates it with O_EXCL and mode 0600 and
// writes a new random key, synced to disk. An existing file must be a regular
// file that neither group nor others can access, else the error wraps
// [ErrInsecureKeyFile]; on Windows the mode is not checked.
//
// Two processes initializing the same path at the same moment may see one
// of them fail with [ErrInvalidMasterKey] (it read the file before it was
// written); retrying succeeds.
func LoadOrCreateMasterKey(path string) (tink.AEAD, error) {
	if path == "" {
		return nil, errors.New("keystore: master key file path is empty")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return createMasterKeyFile(f, path)
	case errors.Is(err, fs.ErrExist):
		return loadMasterKeyFile(path)
	default:
		return nil, fmt.Errorf("keystore: create master key file: %w", err)
	}
}

func createMasterKeyFile(f *os.File, path string) (_ tink.AEAD, err error) {
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	s, err := GenerateMasterKeyString()
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(f, s+"\n"); err != nil {
		return nil, fmt.Errorf("keystore: write master key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("keystore: sync master key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("keystore: close master key file: %w", err)
	}
	syncDir(filepath.Dir(path))
	return ParseMasterKey(s)
}

// syncDir makes a new directory entry durable. It is best effort: some
// platforms cannot open or sync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func loadMasterKeyFile(path string) (tink.AEAD, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: open master key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keystore: open master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore: master key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("keystore: %w: %s has mode %04o, want 0600 (chmod 600 %s)", ErrInsecureKeyFile, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxMasterKeyFile+1))
	defer clear(b)
	if err != nil {
		return nil, fmt.Errorf("keystore: read master key file: %w", err)
	}
	if len(b) > maxMasterKeyFile {
		return nil, fmt.Errorf("keystore: %w: %s is larger than %d bytes", ErrInvalidMasterKey, path, maxMasterKeyFile)
	}
	a, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return a, nil
}
