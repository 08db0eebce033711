package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/agentid/agentid/audit"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/store"
)

// faultStore fails every write transaction the way boltstore does on a
// full disk (store.ErrUnavailable wrapping ENOSPC) while on: fn runs, and
// is rolled back, so that nothing of it commits.
type faultStore struct {
	store.Store
	on atomic.Bool
}

var errFault = errors.New("injected fault")

func (f *faultStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return f.write(ctx, f.Store.Update, fn)
}

func (f *faultStore) Batch(ctx context.Context, fn func(store.Tx) error) error {
	return f.write(ctx, f.Store.Batch, fn)
}

func (f *faultStore) write(ctx context.Context, do func(context.Context, func(store.Tx) error) error, fn func(store.Tx) error) error {
	if !f.on.Load() {
		return do(ctx, fn)
	}
	err := do(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errFault
	})
	if errors.Is(err, errFault) {
		return fmt.Errorf("%w: write agentid.db: %w", store.ErrUnavailable, syscall.ENOSPC)
	}
	return err
}

// logBuf is a log destination safe for concurrent writers.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFault is start with the store wrapped in a faultStore.
func startFault(t *testing.T, dir string, log *slog.Logger) (*testServer, *faultStore) {
	t.Helper()
	fs := &faultStore{}
	ts, _ := serveTest(t, "127.0.0.1:0", Config{DataDir: dir, Logger: log,
		WrapStore: func(st store.Store) store.Store { fs.Store = st; return fs }}, nil)
	return ts, fs
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricLine(t *testing.T, url, name string) string {
	t.Helper()
	_, body := getBody(t, url+"/metrics")
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	t.Fatalf("metric %s not exported", name)
	return ""
}

// wantUnavailable asserts a 503 unavailable answer with Retry-After.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != http.StatusServiceUnavailable || ce.Code != api.CodeUnavailable || ce.RetryAfter != 10*time.Second {
		t.Fatalf("%s on a full disk: %v (%#v); want 503 unavailable with Retry-After: 10", what, err, ce)
	}
}

// TestFaultDiskFull: with every write failing as on a full disk, issuance,
// revocation and verification answer 503 unavailable with Retry-After
// (never 500), /readyz is not ready and the metric says why; once writes
// commit again /readyz recovers by itself, and every issuance that was
// acknowledged is there after a restart.
func TestFaultDiskFull(t *testing.T) {
	dir := t.TempDir()
	logs := &logBuf{}
	ts, fault := startFault(t, dir, slog.New(slog.NewTextHandler(logs, nil)))
	ctx := context.Background()

	var acked []string
	agent := newKey(t)
	first, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	acked = append(acked, agent.DID)
	vp, err := agent.Present(client.PresentOptions{Credential: first.Credential, Audience: "https://calendar.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := getBody(t, ts.url+"/readyz"); st != http.StatusOK {
		t.Fatalf("readyz before the fault = %d", st)
	}

	fault.on.Store(true)
	// Proofs need a nonce, which is in memory: get it before.
	_, err = ts.issue(t, ts.admin, newKey(t), []string{"calendar:read"})
	wantUnavailable(t, "issuance", err)
	_, err = ts.admin.Revoke(ctx, first.ID)
	wantUnavailable(t, "revocation", err)
	// A verification decision goes to the audit journal (a file) and then
	// into the chain in the store: the first decisions after the fault may
	// be journaled and answered; once the chain cannot take them, every
	// verification is refused until it can. Bounded: 3 s.
	verifier := client.New(ts.url, nil)
	answered := 0
	deadline := time.Now().Add(3 * time.Second)
	for {
		p, err := agent.Present(client.PresentOptions{Credential: first.Credential, Audience: "https://calendar.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = verifier.Verify(ctx, api.VerifyRequest{Presentation: p, Audience: "https://calendar.example.com"})
		if err != nil {
			wantUnavailable(t, "verification", err)
			break
		}
		answered++
		if time.Now().After(deadline) {
			t.Fatalf("verification still answered on a full disk after %d decisions", answered)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = vp

	st, body := getBody(t, ts.url+"/readyz")
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "storage unavailable") {
		t.Fatalf("readyz on a full disk = %d %s; want 503 storage unavailable", st, body)
	}
	if l := metricLine(t, ts.url, "agentid_storage_unavailable"); l != "agentid_storage_unavailable 1" {
		t.Fatalf("metric on a full disk: %q", l)
	}
	if l := metricLine(t, ts.url, "agentid_storage_write_failures_total"); l == "agentid_storage_write_failures_total 0" {
		t.Fatalf("metric on a full disk: %q", l)
	}

	if n := strings.Count(logs.String(), `msg="storage unavailable`); n != 1 || !strings.Contains(logs.String(), "no space left on device") {
		t.Fatalf("want one log line saying why (with the cause), got %d:\n%s", n, logs)
	}

	fault.on.Store(false)
	// /readyz probes with a write at most once a second: bounded wait.
	deadline = time.Now().Add(5 * time.Second)
	for {
		st, body = getBody(t, ts.url+"/readyz")
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the fault cleared = %d %s; want 200 without a restart", st, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l := metricLine(t, ts.url, "agentid_storage_unavailable"); l != "agentid_storage_unavailable 0" {
		t.Fatalf("metric after the fault cleared: %q", l)
	}
	if !strings.Contains(logs.String(), `msg="storage available again`) {
		t.Fatalf("no log line on recovery:\n%s", logs)
	}
	// Verification recovers by itself too, and the decisions answered
	// before the stall were kept in the journal and are in the chain.
	deadline = time.Now().Add(5 * time.Second)
	for {
		p, err := agent.Present(client.PresentOptions{Credential: first.Credential, Audience: "https://calendar.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := verifier.Verify(ctx, api.VerifyRequest{Presentation: p, Audience: "https://calendar.example.com"})
		if err == nil && res.Valid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verification after the fault cleared: %+v %+v %v; want valid without a restart", res, res.Error, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	evs, err := ts.admin.Audit(ctx, client.AuditFilter{Action: audit.ActionVerify, Decision: audit.DecisionAllow})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < answered+1 {
		t.Fatalf("%d verify allow events in the trail; %d were answered on the full disk and 1 after", len(evs), answered)
	}
	again := newKey(t)
	if _, err := ts.issue(t, ts.admin, again, []string{"calendar:read"}); err != nil {
		t.Fatalf("issuance after the fault cleared: %v", err)
	}
	acked = append(acked, again.DID)
	if _, err := ts.admin.Revoke(ctx, first.ID); err != nil {
		t.Fatalf("revocation after the fault cleared: %v", err)
	}

	// Nothing acknowledged was lost: every 2xx issuance is there after a
	// restart.
	ts.close()
	ts2 := start(t, dir)
	for _, d := range acked {
		if _, err := ts2.admin.Agent(ctx, d); err != nil {
			t.Fatalf("acknowledged agent %s after restart: %v", d, err)
		}
	}
	list, err := ts2.admin.Agents(ctx, client.AgentFilter{})
	if err != nil || len(list) != len(acked) {
		t.Fatalf("inventory after restart: %d agents, %v; want %d", len(list), err, len(acked))
	}
}

// TestFaultDiskFullReplayJournalFirst: when the replay journal is the first
// write to fail on a full disk (its batch flushes before any other write),
// a principal's call and a verification are answered 503 unavailable, not
// 401 or valid:false "replayed": the caller did nothing wrong, and must be
// told to retry.
func TestFaultDiskFullReplayJournalFirst(t *testing.T) {
	ts, fault := startFault(t, t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	agent := newKey(t)
	first, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	fault.on.Store(true)
	// A read-only call records its jti in the principals' replay journal;
	// the journal's next flush fails on the full disk.
	if _, err := ts.admin.Agent(ctx, agent.DID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * replayFlushInterval)
	_, err = ts.admin.Revoke(ctx, first.ID)
	wantUnavailable(t, "revocation after the replay journal failed", err)

	// The verifier service's own journal: the first decision is taken in
	// memory and queued (the journal's documented window), its flush fails,
	// and the next is refused 503.
	verify := func() (*api.VerifyResponse, error) {
		vp, err := agent.Present(client.PresentOptions{Credential: first.Credential, Audience: "https://calendar.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return client.New(ts.url, nil).Verify(ctx, api.VerifyRequest{Presentation: vp, Audience: "https://calendar.example.com"})
	}
	if _, err := verify(); err != nil {
		wantUnavailable(t, "verification on a full disk", err)
	}
	time.Sleep(3 * replayFlushInterval)
	res, err := verify()
	if err == nil {
		t.Fatalf("verification after the replay journal failed: %+v; want 503 unavailable", res)
	}
	wantUnavailable(t, "verification after the replay journal failed", err)
}
