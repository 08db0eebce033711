// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb on
// a temporary directory, the server listening on a unix socket only, run as
// an unprivileged user when the tests run as root (PostgreSQL refuses
// root), and stopped when the test binary ends.
//
// A package that uses it calls [Main] from its TestMain, and each test
// asks for a database of its own:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.New(t) // a new, empty database; skips without PostgreSQL
//		…
//	}
//
// Without PostgreSQL (no initdb and pg_ctl on the PATH or under
// /usr/lib/postgresql/*/bin) New skips the test, saying so, unless
// AGENTID_REQUIRE_POSTGRES=1, which makes it fail instead (CI sets it).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvRequire names the variable that turns a skip for want of PostgreSQL
// into a failure.
const EnvRequire = "AGENTID_REQUIRE_POSTGRES"

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	dir     string // owned by the server's user; holds data/, the socket and the log
	bin     string // the directory of initdb, pg_ctl, postgres
	cred    *syscall.Credential
	mu      sync.Mutex
	running bool
	dbs     atomic.Int64
}

var (
	shared     *Cluster
	sharedErr  error
	sharedOnce sync.Once
	mainCalled atomic.Bool
)

// Main runs the tests of a package and then stops the shared cluster, if
// a test started it. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that has more to do: it runs the tests,
// stops the cluster and returns the exit code.
func Run(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		os.RemoveAll(shared.dir)
	}
	return code
}

// Shared returns the cluster of this test binary, starting it on first
// use; it skips (or, with AGENTID_REQUIRE_POSTGRES=1, fails) t when there
// is no PostgreSQL.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: call pgtest.Main from TestMain, so that the cluster is stopped at the end")
	}
	sharedOnce.Do(func() {
		bin, err := FindBin()
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = Start(bin)
	})
	if sharedErr != nil {
		if errors.Is(sharedErr, errNotFound) {
			if os.Getenv(EnvRequire) == "1" {
				t.Fatalf("PostgreSQL not found: initdb/pg_ctl not on PATH, and %s=1", EnvRequire)
			}
			t.Skip("PostgreSQL not found: initdb/pg_ctl not on PATH")
		}
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// New returns the connection string of a new, empty database in the shared
// cluster (see Shared).
func New(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	dsn, err := c.CreateDB(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

var errNotFound = errors.New("pgtest: PostgreSQL binaries not found")

// FindBin returns the directory holding initdb, pg_ctl and postgres: the
// PATH first, then the newest /usr/lib/postgresql/*/bin (where Debian's
// packages put them, off the PATH).
func FindBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				real = p
			}
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errNotFound
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises and starts a cluster with the binaries in bin. The
// caller stops it with Stop and removes Dir.
func Start(bin string) (*Cluster, error) {
	c := &Cluster{bin: bin}
	dir, err := os.MkdirTemp("", "agentid-pg-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", c.DataDir(), "-U", "agentid", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := c.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.watchdog()
	return c, nil
}

// watchdog starts a process that, once this one has exited however it
// exited (a test that panics or is killed never reaches Main's cleanup),
// stops the server and removes its directory. It runs in its own process
// group, so that signals to the test's group do not end it first.
func (c *Cluster) watchdog() {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done
if [ -f "$2/data/postmaster.pid" ]; then kill -INT "$(head -1 "$2/data/postmaster.pid")" 2>/dev/null; sleep 3; fi
rm -rf "$2"`
	cmd := exec.Command("/bin/sh", "-c", script, "pgtest-watchdog", strconv.Itoa(os.Getpid()), c.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err == nil {
		go cmd.Wait() //nolint:errcheck // it outlives the tests on purpose
	}
}

// unprivileged returns the credential of the postgres user, or nobody.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgtest: running as root and neither user postgres nor nobody exists to run PostgreSQL")
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

// Dir is the cluster's directory; DataDir its data directory; SocketDir
// the directory of its unix socket.
func (c *Cluster) Dir() string       { return c.dir }
func (c *Cluster) DataDir() string   { return filepath.Join(c.dir, "data") }
func (c *Cluster) SocketDir() string { return c.dir }

// Start starts the server (again, after Stop).
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c max_connections=200 -c shared_buffers=64MB", c.SocketDir())
	if out, err := c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.DataDir(), "-l", filepath.Join(c.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	c.running = true
	return nil
}

// Stop stops the server (fast shutdown: sessions are disconnected).
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if out, err := c.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", c.DataDir()); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	c.running = false
	return nil
}

// DSN returns the connection string of database name.
func (c *Cluster) DSN(name string) string {
	return fmt.Sprintf("postgres:///%s?host=%s&user=agentid&sslmode=disable", name, c.SocketDir())
}

// CreateDB creates a new, empty database and returns its DSN.
func (c *Cluster) CreateDB(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.dbs.Add(1))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return c.DSN(name), nil
}
