package auditlog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"

	"github.com/agentid/agentid/audit"
)

// t0 is the fixed epoch of the test clocks.
var t0 = time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)

// clock is a deterministic clock: each call returns one second later.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// openDB opens a fresh boltstore database in a temporary directory.
func openDB(tb testing.TB, noSync bool) *boltstore.Store {
	tb.Helper()
	return openDBWith(tb, &boltstore.Options{NoSync: noSync})
}

// openDBWith is openDB with the given options.
func openDBWith(tb testing.TB, opts *boltstore.Options) *boltstore.Store {
	tb.Helper()
	db, err := boltstore.Open(filepath.Join(tb.TempDir(), "audit.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// newLog returns a Log over a fresh database with a deterministic clock.
func newLog(tb testing.TB) (*Log, *boltstore.Store) {
	tb.Helper()
	db := openDB(tb, true)
	l, err := Open(db, &Options{Now: newClock(t0).Now})
	if err != nil {
		tb.Fatal(err)
	}
	return l, db
}

// mustAppend appends the events in one transaction each, through AppendTx.
func mustAppend(tb testing.TB, l *Log, evs ...*audit.Event) {
	tb.Helper()
	for _, ev := range evs {
		if err := l.db.Update(context.Background(), func(tx store.Tx) error { return l.AppendTx(tx, ev) }); err != nil {
			tb.Fatalf("append %+v: %v", ev, err)
		}
	}
}

// verifyEvent returns a verify event for agent at time t.
func verifyEvent(agent string, t time.Time, decision, reason string) *audit.Event {
	return &audit.Event{Time: t, Action: audit.ActionVerify, Subject: agent, Decision: decision, Reason: reason,
		Resource: "https://calendar.example.com", Scopes: []string{"calendar:read"}}
}

// seed appends n verify events alternating between two agents, actors and
// decisions.
func seed(tb testing.TB, l *Log, n int) {
	tb.Helper()
	err := l.db.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			ev := &audit.Event{
				Action:   audit.ActionVerify,
				Actor:    fmt.Sprintf("did:key:actor%d", i%2),
				Subject:  fmt.Sprintf("did:key:agent%d", i%2),
				Resource: "https://calendar.example.com",
				Decision: audit.DecisionAllow,
			}
			if i%3 == 2 {
				ev.Decision, ev.Reason = audit.DecisionDeny, "expired"
			}
			if err := l.AppendTx(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// bucketDo runs fn on the audit bucket in a write transaction: the way a
// tamperer with file access would edit the log. It goes through the store
// seam, which writes the same records a raw bbolt edit would.
func bucketDo(tb testing.TB, db store.Store, fn func(b store.Bucket) error) {
	tb.Helper()
	if err := db.Update(context.Background(), func(tx store.Tx) error { return fn(tx.Bucket(bucketName)) }); err != nil {
		tb.Fatal(err)
	}
}

// collect returns the seqs Query yields for f.
func collect(tb testing.TB, l *Log, f audit.Filter) []uint64 {
	tb.Helper()
	var seqs []uint64
	if err := l.Query(context.Background(), f, func(ev *audit.Event) error {
		seqs = append(seqs, ev.Seq)
		return nil
	}); err != nil {
		tb.Fatalf("query %+v: %v", f, err)
	}
	return seqs
}

// chainErrors flattens a report to "seq:kind" strings.
func chainErrors(rep *audit.VerifyReport) []string {
	var out []string
	for _, e := range rep.Errors {
		out = append(out, fmt.Sprintf("%d:%s", e.Seq, e.Kind))
	}
	return out
}

// mustBeCorrupt checks that err reports a broken chain in the package's way.
func mustBeCorrupt(tb testing.TB, err error) {
	tb.Helper()
	var ce *audit.ChainError
	if !errors.Is(err, audit.ErrCorrupt) || !errors.As(err, &ce) {
		tb.Fatalf("err = %v, want a *ChainError wrapping ErrCorrupt", err)
	}
}
