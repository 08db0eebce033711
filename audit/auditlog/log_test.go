package auditlog

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"

	"github.com/agentid/agentid/audit"
)

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestAppendChains(t *testing.T) {
	l, _ := newLog(t)
	ctx := t.Context()
	var evs []*audit.Event
	for i := range 3 {
		ev := &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow, Subject: "did:key:a", Detail: strings.Repeat("x", i)}
		if err := l.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	prev := audit.GenesisPrev
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d: seq %d", i, ev.Seq)
		}
		if ev.Prev != prev {
			t.Errorf("event %d: prev %s, want %s", i, ev.Prev, prev)
		}
		if !hexHash.MatchString(ev.Hash) {
			t.Errorf("event %d: hash %q", i, ev.Hash)
		}
		if want := t0.Add(time.Duration(i+1) * time.Second); !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
			t.Errorf("event %d: time %v, want %v UTC", i, ev.Time, want)
		}
		prev = ev.Hash
	}
	seq, hash, err := l.Head(ctx)
	if err != nil || seq != 3 || hash != evs[2].Hash {
		t.Errorf("Head = %d, %s, %v; want 3, %s", seq, hash, err, evs[2].Hash)
	}
	// The stored events equal what Append returned.
	var got []*audit.Event
	if err := l.Query(ctx, audit.Filter{}, func(ev *audit.Event) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i].Hash != evs[i].Hash || !got[i].Time.Equal(evs[i].Time) || got[i].Detail != evs[i].Detail {
			t.Errorf("stored %+v, appended %+v", got[i], evs[i])
		}
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAppendKeepsCallerTimeAndScopes(t *testing.T) {
	l, _ := newLog(t)
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	scopes := []string{"a:b", "bad\xffutf8"}
	ev := &audit.Event{Time: when, Action: audit.ActionVerify, Decision: audit.DecisionDeny, Scopes: scopes, Actor: "\xfe"}
	if err := l.Append(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if !ev.Time.Equal(when) || ev.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", ev.Time, when)
	}
	if scopes[1] != "bad\xffutf8" {
		t.Errorf("caller's scopes slice was modified: %q", scopes)
	}
	if ev.Scopes[1] != "bad\uFFFDutf8" || ev.Actor != "\uFFFD" {
		t.Errorf("invalid UTF-8 not normalised: %q %q", ev.Scopes, ev.Actor)
	}
	if _, err := l.Verify(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestAppendInvalid(t *testing.T) {
	tests := []struct {
		name string
		ev   *audit.Event
	}{
		{"nil", nil},
		{"no action", &audit.Event{Decision: audit.DecisionAllow}},
		{"no decision", &audit.Event{Action: audit.ActionVerify}},
		{"unknown decision", &audit.Event{Action: audit.ActionVerify, Decision: "maybe"}},
		{"too large", &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow, Detail: strings.Repeat("d", audit.MaxEventSize)}},
		{"unencodable time", &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLog(t)
			err := l.Append(t.Context(), tt.ev)
			if !errors.Is(err, audit.ErrInvalidEvent) {
				t.Fatalf("Append: %v, want ErrInvalidEvent", err)
			}
			if !strings.HasPrefix(err.Error(), "audit: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if seq, _, _ := l.Head(t.Context()); seq != 0 {
				t.Errorf("head moved to %d", seq)
			}
		})
	}
}

func TestAppendCanceledContext(t *testing.T) {
	l, _ := newLog(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Append(ctx, &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append: %v, want context.Canceled", err)
	}
}

func TestAppendTxRollback(t *testing.T) {
	l, db := newLog(t)
	ctx := t.Context()
	mustAppend(t, l, &audit.Event{Action: audit.ActionAgentIssue, Decision: audit.DecisionAllow, Subject: "did:key:a"})

	// The caller's operation fails after the append: nothing may remain.
	errOp := errors.New("operation failed")
	var rolled audit.Event
	err := db.Update(ctx, func(tx store.Tx) error {
		rolled = audit.Event{Action: audit.ActionCredentialRevoke, Decision: audit.DecisionAllow, Subject: "did:key:a"}
		if err := l.AppendTx(tx, &rolled); err != nil {
			return err
		}
		if rolled.Seq != 2 {
			t.Errorf("seq inside tx = %d, want 2", rolled.Seq)
		}
		return errOp
	})
	if !errors.Is(err, errOp) {
		t.Fatal(err)
	}
	if seqs := collect(t, l, audit.Filter{}); !slices.Equal(seqs, []uint64{1}) {
		t.Fatalf("after rollback: events %v, want [1]", seqs)
	}

	// The chain continues from the committed head.
	next := &audit.Event{Action: audit.ActionCredentialSuspend, Decision: audit.DecisionAllow, Subject: "did:key:a"}
	if err := l.Append(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next.Seq != 2 || next.Hash == rolled.Hash {
		t.Errorf("after rollback: seq %d (want 2), hash reused: %v", next.Seq, next.Hash == rolled.Hash)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}

	// AppendTx refuses a read-only transaction.
	err = db.View(ctx, func(tx store.Tx) error {
		return l.AppendTx(tx, &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow})
	})
	if err == nil {
		t.Fatal("AppendTx in a read-only transaction succeeded")
	}
}

func TestAppendRefusesDamagedHead(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(b store.Bucket) error
	}{
		{"head deleted", func(b store.Bucket) error { return b.Delete(headKey) }},
		{"head truncated", func(b store.Bucket) error { return b.Put(headKey, []byte{1, 2, 3}) }},
		{"head behind events", func(b store.Bucket) error {
			v := append([]byte(nil), b.Get(headKey)...)
			v[7]-- // seq 3 -> 2
			return b.Put(headKey, v)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, db := newLog(t)
			seed(t, l, 3)
			bucketDo(t, db, tt.tamper)
			err := l.Append(t.Context(), &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow})
			mustBeCorrupt(t, err)
			if seqs := collect(t, l, audit.Filter{}); len(seqs) != 3 {
				t.Errorf("events %v after refused append", seqs)
			}
		})
	}
}

// TestConcurrentAppend checks that Appends from many goroutines, coalesced
// by db.Batch, form one gap-free chain.
func TestConcurrentAppend(t *testing.T) {
	db := openDB(t, false) // real fsyncs, as in production
	l, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 50, 20
	var wg sync.WaitGroup
	seqs := make(chan uint64, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				ev := &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow, Subject: "did:key:g" + string(rune('a'+g%26))}
				if err := l.Append(t.Context(), ev); err != nil {
					t.Error(err)
					return
				}
				seqs <- ev.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	var got []uint64
	for s := range seqs {
		got = append(got, s)
	}
	slices.Sort(got)
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("returned seqs not 1..%d: position %d has %d", len(got), i, s)
		}
	}
	rep, err := l.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != goroutines*each || rep.LastSeq != goroutines*each {
		t.Errorf("report %+v, want %d events", rep, goroutines*each)
	}
}

// TestBatchRetry forces db.Batch to re-run Append's function (another call
// in the same batch fails, so the batch's transaction is rolled back and
// retried) and checks that no event is doubled or lost.
func TestBatchRetry(t *testing.T) {
	db := openDBWith(t, &boltstore.Options{NoSync: true, MaxBatchDelay: 20 * time.Millisecond}) // let batches fill up
	l, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	errFail := errors.New("failing batch call")
	const appenders, failers = 40, 10
	var wg sync.WaitGroup
	results := make([]*audit.Event, appenders)
	for i := range appenders {
		wg.Go(func() {
			ev := &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow, RequestID: string(rune('A' + i))}
			if err := l.Append(t.Context(), ev); err != nil {
				t.Error(err)
			}
			results[i] = ev
		})
	}
	for range failers {
		wg.Go(func() {
			err := db.Batch(t.Context(), func(tx store.Tx) error {
				// A write that must vanish with the rollback.
				if err := tx.Bucket(bucketName).Put([]byte("junk"), []byte("x")); err != nil {
					return err
				}
				return errFail
			})
			if !errors.Is(err, errFail) {
				t.Errorf("failing call returned %v", err)
			}
		})
	}
	// A probe in the same batches counts how often bbolt re-ran it, to
	// show that the retry path was exercised.
	var probeRuns, probes atomic.Int64
	for range failers {
		wg.Go(func() {
			probes.Add(1)
			if err := db.Batch(t.Context(), func(store.Tx) error { probeRuns.Add(1); return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	t.Logf("batch re-runs observed: %d", probeRuns.Load()-probes.Load())
	rep, err := l.Verify(t.Context())
	if err != nil {
		t.Fatalf("verify: %v (%v)", err, chainErrors(rep))
	}
	if rep.Events != appenders {
		t.Fatalf("%d events stored, want %d", rep.Events, appenders)
	}
	stored := map[uint64]*audit.Event{}
	if err := l.Query(t.Context(), audit.Filter{}, func(ev *audit.Event) error { stored[ev.Seq] = ev; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, ev := range results {
		s := stored[ev.Seq]
		if s == nil || s.Hash != ev.Hash || s.RequestID != ev.RequestID {
			t.Errorf("Append reported seq %d hash %s for %q; stored %+v", ev.Seq, ev.Hash, ev.RequestID, s)
		}
	}
}

func TestQuery(t *testing.T) {
	l, _ := newLog(t)
	// Times t0+1s .. t0+9s; agent0/actor0 on odd seqs; deny on seqs 3, 6, 9.
	seed(t, l, 9)
	// Seq 10, at t0+10s.
	mustAppend(t, l, &audit.Event{Action: audit.ActionCredentialRevoke, Actor: "did:web:admin", Subject: "did:key:agent1", Decision: audit.DecisionAllow})
	tests := []struct {
		name string
		f    audit.Filter
		want []uint64
	}{
		{"all", audit.Filter{}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"agent", audit.Filter{Agent: "did:key:agent1"}, []uint64{2, 4, 6, 8, 10}},
		{"actor", audit.Filter{Actor: "did:key:actor0"}, []uint64{1, 3, 5, 7, 9}},
		{"action", audit.Filter{Action: audit.ActionCredentialRevoke}, []uint64{10}},
		{"decision deny", audit.Filter{Decision: audit.DecisionDeny}, []uint64{3, 6, 9}},
		{"since inclusive", audit.Filter{Since: t0.Add(8 * time.Second)}, []uint64{8, 9, 10}},
		{"until exclusive", audit.Filter{Until: t0.Add(3 * time.Second)}, []uint64{1, 2}},
		{"window", audit.Filter{Since: t0.Add(4 * time.Second), Until: t0.Add(7 * time.Second)}, []uint64{4, 5, 6}},
		{"after seq", audit.Filter{AfterSeq: 7}, []uint64{8, 9, 10}},
		{"limit", audit.Filter{Limit: 2}, []uint64{1, 2}},
		{"combined", audit.Filter{Agent: "did:key:agent0", Decision: audit.DecisionDeny, AfterSeq: 3, Limit: 5}, []uint64{9}},
		{"no match", audit.Filter{Agent: "did:key:nobody"}, nil},
		{"after the end", audit.Filter{AfterSeq: 1 << 63}, nil},
		{"after max seq", audit.Filter{AfterSeq: ^uint64(0)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collect(t, l, tt.f); !slices.Equal(got, tt.want) {
				t.Fatalf("Query(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
	// Query validates the filter (audit's TestFilterValidate checks the
	// rules themselves).
	err := l.Query(t.Context(), audit.Filter{Since: t0.Add(time.Hour), Until: t0}, func(*audit.Event) error { return nil })
	if !errors.Is(err, audit.ErrBadFilter) || !strings.Contains(err.Error(), "since") {
		t.Fatalf("Query with bad filter: %v", err)
	}
}

func TestQueryCallbackError(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l, 5)
	errStopHere := errors.New("enough")
	n := 0
	err := l.Query(t.Context(), audit.Filter{}, func(*audit.Event) error {
		n++
		if n == 2 {
			return errStopHere
		}
		return nil
	})
	if err != errStopHere || n != 2 {
		t.Fatalf("Query = %v after %d calls; want the callback's error after 2", err, n)
	}
}

// TestQueryManyChunks crosses read-transaction chunk boundaries, and
// appends from inside the callback (which runs outside transactions).
func TestQueryManyChunks(t *testing.T) {
	l, _ := newLog(t)
	const n = 2*scanChunk + 17
	seed(t, l, n)
	var got uint64
	err := l.Query(t.Context(), audit.Filter{}, func(ev *audit.Event) error {
		got++
		if ev.Seq != got {
			t.Fatalf("seq %d at position %d", ev.Seq, got)
		}
		if got == scanChunk {
			return l.Append(t.Context(), &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got < n {
		t.Fatalf("%d events, want at least %d", got, n)
	}
	rep, err := l.Verify(t.Context())
	if err != nil || rep.Events != n+1 {
		t.Fatalf("verify: %v, %+v", err, rep)
	}
}

func TestQueryCorruptRecord(t *testing.T) {
	l, db := newLog(t)
	seed(t, l, 4)
	bucketDo(t, db, func(b store.Bucket) error { return b.Put(seqKey(3), []byte("{not json")) })
	err := l.Query(t.Context(), audit.Filter{}, func(*audit.Event) error { return nil })
	mustBeCorrupt(t, err)
	var ce *audit.ChainError
	errors.As(err, &ce)
	if ce.Seq != 3 || ce.Kind != audit.KindCorrupt {
		t.Fatalf("ChainError %+v, want seq 3 corrupt", ce)
	}
}
