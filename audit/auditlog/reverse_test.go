package auditlog

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// countingStore counts the records its readers visit (keys handed to a
// Range callback), so that a test can tell how much of the log a query
// read.
type countingStore struct {
	store.Store
	visited atomic.Int64
}

func (s *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.View(ctx, func(tx store.Tx) error { return fn(countingTx{tx, s}) })
}

type countingTx struct {
	store.Tx
	s *countingStore
}

func (t countingTx) Bucket(name string) store.Bucket { return countingBucket{t.Tx.Bucket(name), t.s} }

type countingBucket struct {
	store.Bucket
	s *countingStore
}

func (b countingBucket) Range(from []byte, fn func(k, v []byte) error) error {
	return b.Bucket.Range(from, func(k, v []byte) error {
		b.s.visited.Add(1)
		return fn(k, v)
	})
}

// countingLog is a log of n seeded events whose reads are counted.
func countingLog(t *testing.T, n int) (*Log, *countingStore) {
	t.Helper()
	cs := &countingStore{Store: openDB(t, true)}
	l, err := Open(cs, &Options{Now: newClock(t0).Now})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, l, n)
	return l, cs
}

// TestQueryReverse: with Reverse the same events come newest first, Limit
// keeping the latest; BeforeSeq bounds from above in either order.
func TestQueryReverse(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l, 9) // agent0 on odd seqs; deny on 3, 6, 9
	mustAppend(t, l, &audit.Event{Action: audit.ActionCredentialRevoke, Actor: "did:web:admin", Subject: "did:key:agent1", Decision: audit.DecisionAllow})
	tests := []struct {
		name string
		f    audit.Filter
		want []uint64
	}{
		{"all", audit.Filter{Reverse: true}, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"limit keeps the latest", audit.Filter{Reverse: true, Limit: 3}, []uint64{10, 9, 8}},
		{"agent", audit.Filter{Reverse: true, Agent: "did:key:agent1", Limit: 2}, []uint64{10, 8}},
		{"decision", audit.Filter{Reverse: true, Decision: audit.DecisionDeny}, []uint64{9, 6, 3}},
		{"since", audit.Filter{Reverse: true, Since: t0.Add(8 * time.Second)}, []uint64{10, 9, 8}},
		{"before", audit.Filter{Reverse: true, BeforeSeq: 8, Limit: 3}, []uint64{7, 6, 5}},
		{"before and after", audit.Filter{Reverse: true, BeforeSeq: 8, AfterSeq: 5}, []uint64{7, 6}},
		{"before beyond the head", audit.Filter{Reverse: true, BeforeSeq: 1 << 40, Limit: 1}, []uint64{10}},
		{"before 1", audit.Filter{Reverse: true, BeforeSeq: 1}, nil},
		{"before 2", audit.Filter{Reverse: true, BeforeSeq: 2}, []uint64{1}},
		{"after the end", audit.Filter{Reverse: true, AfterSeq: 10}, nil},
		{"after max seq", audit.Filter{Reverse: true, AfterSeq: ^uint64(0)}, nil},
		{"empty range", audit.Filter{Reverse: true, AfterSeq: 6, BeforeSeq: 7}, nil},
		{"no match", audit.Filter{Reverse: true, Agent: "did:key:nobody"}, nil},
		{"oldest first, before", audit.Filter{BeforeSeq: 4}, []uint64{1, 2, 3}},
		{"oldest first, before and after", audit.Filter{AfterSeq: 2, BeforeSeq: 6, Decision: audit.DecisionDeny}, []uint64{3}},
		{"oldest first, before max", audit.Filter{BeforeSeq: ^uint64(0), AfterSeq: 8}, []uint64{9, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collect(t, l, tt.f); !slices.Equal(got, tt.want) {
				t.Fatalf("Query(%+v) = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
	empty, _ := newLog(t)
	if got := collect(t, empty, audit.Filter{Reverse: true}); got != nil {
		t.Fatalf("an empty log, newest first: %v", got)
	}
}

// TestQueryReverseReadsTheEnd: the newest events of a log several read
// windows long are read from its end alone (one window, not the log), and
// paging back with BeforeSeq cursors yields every event once, newest
// first, across window boundaries.
func TestQueryReverseReadsTheEnd(t *testing.T) {
	const n = 3*scanChunk + 17
	l, cs := countingLog(t, n)

	cs.visited.Store(0)
	got := collect(t, l, audit.Filter{Reverse: true, Limit: 5})
	if !slices.Equal(got, []uint64{n, n - 1, n - 2, n - 3, n - 4}) {
		t.Fatalf("the latest 5: %v", got)
	}
	if v := cs.visited.Load(); v > scanChunk+4 {
		t.Fatalf("the latest 5 of %d events visited %d records, want at most one window (%d)", n, v, scanChunk)
	}

	// Oldest first with BeforeSeq stops there, too.
	cs.visited.Store(0)
	if got := collect(t, l, audit.Filter{BeforeSeq: 4}); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("before 4: %v", got)
	}
	if v := cs.visited.Load(); v > scanChunk+4 {
		t.Fatalf("oldest first before seq 4 visited %d records, want at most one chunk (%d)", v, scanChunk)
	}

	var all []uint64
	f := audit.Filter{Reverse: true, Limit: 700}
	for {
		page := collect(t, l, f)
		all = append(all, page...)
		if len(page) < f.Limit {
			break
		}
		f.BeforeSeq = page[len(page)-1]
	}
	if len(all) != n {
		t.Fatalf("paged back through %d events, want %d", len(all), n)
	}
	for i, s := range all {
		if s != uint64(n-i) {
			t.Fatalf("position %d holds seq %d, want %d", i, s, n-i)
		}
	}
}

// TestQueryReverseAfterRoll: once older events left the store (rolled
// into segments), a query newest first stops at the oldest event the
// store holds, and reads no empty windows below it.
func TestQueryReverseAfterRoll(t *testing.T) {
	const n = 4 * scanChunk
	l, cs := countingLog(t, n)
	// The store holds only the newest 10 events, as after a Roll.
	bucketDo(t, cs, func(b store.Bucket) error {
		for s := uint64(1); s <= n-10; s++ {
			if err := b.Delete(seqKey(s)); err != nil {
				return err
			}
		}
		return nil
	})
	cs.visited.Store(0)
	got := collect(t, l, audit.Filter{Reverse: true})
	if len(got) != 10 || got[0] != n || got[9] != n-9 {
		t.Fatalf("newest first after a roll: %v", got)
	}
	if v := cs.visited.Load(); v > 20 {
		t.Fatalf("visited %d records for the 10 the store holds", v)
	}
}
