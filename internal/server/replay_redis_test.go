package server

// Redis as the shared replay store, measured against the UNLOGGED table
// the replicas use (issue 16 asked to measure both; docs/performance.md,
// "Replay records: PostgreSQL or Redis"). This is a measurement, not a
// backend: a minimal RESP client in a test file, no dependency.

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/gather"
	"github.com/agentid/agentid/verifier"
)

// startRedis starts a throwaway redis-server on a unix socket in a temp
// directory, without persistence (like the UNLOGGED table, whose rows a
// crash of PostgreSQL empties), and returns the socket's path. Without
// redis-server on the PATH it skips, saying so; AGENTID_REQUIRE_REDIS=1
// (.ci/run) makes that a failure.
func startRedis(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server is not installed (Debian: redis-server)"
		if os.Getenv("AGENTID_REQUIRE_REDIS") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg + ": skipping the Redis replay measurement")
	}
	dir, err := os.MkdirTemp("", "redis")
	if err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	})
	for i := 0; ; i++ {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return sock
		}
		if i > 200 {
			tb.Fatalf("redis-server did not listen on %s: %v", sock, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redisReplay is sharedReplay on Redis: SET key 1 NX PXAT exp, the
// Records gathered while a batch is in flight sent as the next batch in
// one pipelined write over one connection (as sharedReplay batches its
// INSERTs); Redis expires the keys itself.
type redisReplay struct {
	scope string
	mem   *verifier.MemoryReplayCache

	batches gather.Gatherer[*replayReq]

	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func newRedisReplay(tb testing.TB, sock, scope string) *redisReplay {
	c, err := net.Dial("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	r := &redisReplay{scope: scope, mem: verifier.NewMemoryReplayCache(0), conn: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
	r.batches.Run = r.sendBatch
	return r
}

func (r *redisReplay) Seen(holder, jti string, now time.Time) bool {
	return r.mem.Seen(holder, jti, now)
}

func (r *redisReplay) Record(holder, jti string, exp, now time.Time) error {
	if r.mem.Seen(holder, jti, now) {
		return verifier.ErrReplayed
	}
	q := &replayReq{holder: holder, jti: jti, exp: exp.UnixMilli(), now: now, done: make(chan struct{})}
	r.batches.Add(q)
	<-q.done
	if q.err == nil {
		_ = r.mem.Record(holder, jti, exp, now)
	}
	return q.err
}

func (r *redisReplay) sendBatch(batch []*replayReq) {
	err := r.send(batch)
	for _, q := range batch {
		if err != nil && q.err == nil {
			q.err = err
		}
		close(q.done)
	}
}

// send writes one SET per request and reads the replies in order: +OK is
// accepted, a nil bulk string ($-1: the key exists) is replayed.
func (r *redisReplay) send(batch []*replayReq) error {
	for _, q := range batch {
		key := r.scope + ":" + q.holder + "\x00" + q.jti
		exp := strconv.FormatInt(q.exp, 10)
		fmt.Fprintf(r.w, "*6\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n$2\r\nNX\r\n$4\r\nPXAT\r\n$%d\r\n%s\r\n", len(key), key, len(exp), exp)
	}
	if err := r.w.Flush(); err != nil {
		return err
	}
	for _, q := range batch {
		line, err := r.r.ReadString('\n')
		if err != nil {
			return err
		}
		switch {
		case line == "+OK\r\n":
		case line == "$-1\r\n":
			q.err = verifier.ErrReplayed
		default:
			q.err = errors.New("redis: " + line)
		}
	}
	return nil
}

// TestRedisReplay: the Redis variant measured below keeps the contract of
// the replicas' replay store: of many concurrent Records of one jti over
// two connections, exactly one is accepted; another scope is apart.
func TestRedisReplay(t *testing.T) {
	sock := startRedis(t)
	a, b := newRedisReplay(t, sock, "verify"), newRedisReplay(t, sock, "verify")
	now := time.Now()
	exp := now.Add(time.Minute)
	oneAccepted(t, a, b, exp, now)
	if err := newRedisReplay(t, sock, "issuer").Record("did:key:holder", "jti-0", exp, now); err != nil {
		t.Errorf("another scope: %v; want accepted", err)
	}
}
