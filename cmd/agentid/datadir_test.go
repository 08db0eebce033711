package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/internal/server"
)

// The tests in this file run the real agentid binary, built once per test
// binary, as an operator would: they assert its exit code, its stderr and
// what is on disk afterwards.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// agentidBinary builds cmd/agentid once and returns its path.
func agentidBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "agentid-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "agentid")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// binEnv is the environment of the child: no master key variable, so that
// master.key is the file in the data directory.
func binEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AGENTID_") {
			env = append(env, e)
		}
	}
	return env
}

type result struct {
	code           int
	stdout, stderr string
}

// runBin runs the binary to completion (at most 30 s).
func runBin(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, agentidBinary(t), args...)
	cmd.Env = binEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	t.Logf("agentid %s\n[exit %d]\n[stdout]\n%s[stderr]\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

var listeningRE = regexp.MustCompile(`agentid: listening on (http://\S+)`)

// serveBin starts `agentid serve` on a free loopback port and waits until
// it listens or exits. When it listens it returns the base URL and a stop
// function; when it exits first it returns its result.
func serveBin(t *testing.T, args ...string) (url string, stop func() result, exited *result) {
	t.Helper()
	cmd := exec.Command(agentidBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = binEnv()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	var mu sync.Mutex
	cmd.Stderr = pw
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			errb.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	waitc := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(waitc) }()
	collect := func() result {
		<-waitc
		<-scanDone
		mu.Lock()
		defer mu.Unlock()
		r := result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
		t.Logf("agentid serve %s\n[exit %d]\n[stderr]\n%s", strings.Join(args, " "), r.code, r.stderr)
		return r
	}
	select {
	case url = <-found:
		stop = func() result {
			cmd.Process.Signal(os.Interrupt)
			return collect()
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
			}
		})
		return url, stop, nil
	case <-waitc:
		r := collect()
		return "", nil, &r
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		r := collect()
		t.Fatalf("serve neither listened nor exited in 60 s: %s", r.stderr)
	}
	return "", nil, nil
}

// readyz returns the status of GET /readyz.
func readyz(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const testIssuer = "http://localhost:8080"

// initDir initialises a data directory with the binary.
func initDir(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	if r := runBin(t, "init", "--data", data, "--issuer-url", testIssuer); r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	return data
}

// snapshot returns the names, sizes and contents' digests of the files in
// dir and its subdirectories (the audit journal and segments).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(dir, path)
		m[name] = fmt.Sprintf("%d:%x", len(b), b[:min(len(b), 64)])
		if len(b) > 64 {
			m[name] += fmt.Sprintf(":%x", b[len(b)-64:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed or vanished", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s was created", k)
		}
	}
}

// refused checks an operator's refusal: exit 1, exactly one stderr line
// "agentid: error: ..." matching want (plus optional hint lines), no
// panic trace.
func refused(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	var errs []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		switch {
		case strings.HasPrefix(l, "agentid: error: "):
			errs = append(errs, l)
		case strings.HasPrefix(l, "agentid: hint: "), strings.HasPrefix(l, "{"): // hints, JSON logs
		default:
			t.Errorf("unexpected stderr line %q", l)
		}
	}
	if len(errs) != 1 || !regexp.MustCompile(want).MatchString(errs[0]) {
		t.Errorf("stderr error lines %q, want one matching %q", errs, want)
	}
}

func TestFaultServeDamagedDatabase(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, db string)
	}{
		{"truncated to half", func(t *testing.T, db string) {
			fi, _ := os.Stat(db)
			if err := os.Truncate(db, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated mid-page", func(t *testing.T, db string) {
			fi, _ := os.Stat(db)
			if err := os.Truncate(db, fi.Size()-1000); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta pages zeroed", func(t *testing.T, db string) {
			f, err := os.OpenFile(db, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 8192), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"header only", func(t *testing.T, db string) {
			if err := os.Truncate(db, 100); err != nil {
				t.Fatal(err)
			}
		}},
		// A full-length file with a damaged page inside: bbolt itself
		// panics on these, some in a goroutine of its own (exit 2).
		{"root page zeroed", func(t *testing.T, db string) {
			overwriteRootPage(t, db, func(p []byte) { clear(p) })
		}},
		{"root page garbage", func(t *testing.T, db string) {
			overwriteRootPage(t, db, func(p []byte) {
				for i := range p[8:] {
					p[8+i] = byte(i*31 + 7)
				}
			})
		}},
		{"root page count too large", func(t *testing.T, db string) {
			overwriteRootPage(t, db, func(p []byte) { p[10], p[11] = 0xff, 0x7f })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := initDir(t)
			c.damage(t, filepath.Join(data, server.DBFile))
			before := snapshot(t, data)
			_, _, r := serveBin(t, "--data", data, "--issuer-url", testIssuer)
			if r == nil {
				t.Fatal("serve started on a damaged database")
			}
			refused(t, *r, `^agentid: error: .*damaged: .*agentid\.db(: page \d+| is truncated| has no valid meta page).*; restore it from a backup$`)
			sameFiles(t, before, snapshot(t, data))
		})
	}
}

// overwriteRootPage edits, in place, the root page of the root bucket named
// by the newer meta page of the bbolt file at db (bbolt's format: meta after
// a 16-byte page header; page size at +8, root at +16, txid at +48).
func overwriteRootPage(t *testing.T, db string, fn func(p []byte)) {
	t.Helper()
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	ps := int(ne.Uint32(b[16+8:]))
	m := b[16:]
	if m1 := b[ps+16:]; ne.Uint64(m1[48:]) > ne.Uint64(m[48:]) {
		m = m1
	}
	root := int(ne.Uint64(m[16:]))
	fn(b[root*ps : (root+1)*ps])
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFaultServeMissingData(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, data string)
		want string
	}{
		{"database missing", func(t *testing.T, data string) {
			os.Remove(filepath.Join(data, server.DBFile))
		}, `agentid\.db is missing`},
		{"database empty", func(t *testing.T, data string) {
			os.Truncate(filepath.Join(data, server.DBFile), 0)
		}, `agentid\.db.* (empty|damaged)`},
		{"master key missing", func(t *testing.T, data string) {
			os.Remove(filepath.Join(data, server.MasterKeyFile))
		}, `master key .*master\.key.* missing`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := initDir(t)
			c.fn(t, data)
			before := snapshot(t, data)
			_, _, r := serveBin(t, "--data", data, "--issuer-url", testIssuer)
			if r == nil {
				t.Fatal("serve started")
			}
			refused(t, *r, c.want)
			sameFiles(t, before, snapshot(t, data))
		})
	}
}

func TestFaultServeOtherIssuerURL(t *testing.T) {
	data := initDir(t)
	before := snapshot(t, data)
	_, _, r := serveBin(t, "--data", data, "--issuer-url", "http://localhost:9090")
	if r == nil {
		t.Fatal("serve started with another issuer URL")
	}
	refused(t, *r, `initialised for issuer URL http://localhost:8080, not http://localhost:9090`)
	if !strings.Contains(r.stderr, "agentid: hint: ") || !strings.Contains(r.stderr, "--change-issuer-url") {
		t.Errorf("no hint naming --change-issuer-url: %q", r.stderr)
	}
	sameFiles(t, before, snapshot(t, data))

	// The documented change, with its warning.
	c := runBin(t, "init", "--data", data, "--change-issuer-url", "http://localhost:9090")
	if c.code != 0 || !strings.Contains(c.stderr, "warning") || !strings.Contains(c.stderr, "did:web:localhost%3A8080") {
		t.Fatalf("change issuer URL: exit %d, stderr %q", c.code, c.stderr)
	}
	url, stop, r := serveBin(t, "--data", data, "--issuer-url", "http://localhost:9090")
	if r != nil {
		t.Fatalf("serve after the change: exit %d", r.code)
	}
	if s := readyz(t, url); s != 200 {
		t.Errorf("readyz %d", s)
	}
	if r := stop(); !strings.Contains(r.stderr, "did:web:localhost%3A9090") {
		t.Errorf("issuer DID not the new one: %q", r.stderr)
	}
	// And the old URL is now the refused one.
	if _, _, r := serveBin(t, "--data", data, "--issuer-url", testIssuer); r == nil || r.code != 1 {
		t.Fatal("old URL accepted after the change")
	}
}

// TestFaultServePortInUse: serve binds its port before it creates
// anything, so a busy port leaves no data directory behind.
func TestFaultServePortInUse(t *testing.T) {
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(agentidBinary(t), "serve", "--addr", ln.Addr().String(), "--data", data, "--issuer-url", testIssuer)
	cmd.Env = binEnv()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Run()
	r := result{code: cmd.ProcessState.ExitCode(), stderr: errb.String()}
	refused(t, r, `address already in use`)
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data directory created: %v", err)
	}
}

// TestServeRestartKeepsIdentity: a clean restart keeps the issuer and the
// admin, and creates no new files.
func TestServeRestartKeepsIdentity(t *testing.T) {
	data := initDir(t)
	before := snapshot(t, data)
	url, stop, r := serveBin(t, "--data", data, "--issuer-url", testIssuer)
	if r != nil {
		t.Fatalf("serve: exit %d", r.code)
	}
	if s := readyz(t, url); s != 200 {
		t.Errorf("readyz %d", s)
	}
	if r := stop(); r.code != 0 || strings.Contains(r.stderr, "first admin") {
		t.Errorf("stop: exit %d, stderr %q", r.code, r.stderr)
	}
	after := snapshot(t, data)
	for _, f := range []string{server.MasterKeyFile, server.AdminKeyFile} {
		if before[f] != after[f] {
			t.Errorf("%s changed", f)
		}
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
