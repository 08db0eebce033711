package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/store"
)

// scriptedStore is a store.Store whose writes return what the test sends
// them, when it sends it: Update on updates, Batch on batches.
type scriptedStore struct {
	store.Store
	updates, batches chan error
	entered          chan struct{} // an Update began (buffered)
}

func (s *scriptedStore) Update(_ context.Context, _ func(store.Tx) error) error {
	s.entered <- struct{}{}
	return <-s.updates
}
func (s *scriptedStore) Batch(_ context.Context, _ func(store.Tx) error) error { return <-s.batches }

// TestHealthInFlightCommitDoesNotFlap: a write that was under way when a
// later one failed for the storage commits afterwards; that says the
// storage was fine, not that it is again, so the server stays not ready
// (one log line, not three) until a write begun after the failure
// commits. TestFaultDiskFull saw the flap as a second log line.
func TestHealthInFlightCommitDoesNotFlap(t *testing.T) {
	var logs bytes.Buffer
	st := &scriptedStore{updates: make(chan error), batches: make(chan error), entered: make(chan struct{}, 2)}
	h := newHealth(st, slog.New(slog.NewTextHandler(&logs, nil)), time.Now)
	ctx := context.Background()
	full := fmt.Errorf("%w: no space left on device", store.ErrUnavailable)

	var wg sync.WaitGroup
	early := make(chan error, 1)
	wg.Go(func() { early <- h.Update(ctx, nil) })
	// Once the early write is under way (it read h.failures before it
	// called the store), fail a later one.
	select {
	case <-st.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the early write did not start")
	}
	if err := h.batchWith(ctx, st, full); err == nil {
		t.Fatal("the failing write succeeded")
	}
	if !h.down.Load() {
		t.Fatal("not down after a failed write")
	}
	st.updates <- nil // the early write commits
	wg.Wait()
	if err := <-early; err != nil {
		t.Fatal(err)
	}
	if !h.down.Load() {
		t.Fatalf("ready again after the commit of a write begun before the failure; logs:\n%s", logs.String())
	}
	// A write begun after the failure commits: ready, and said once.
	go func() { st.updates <- nil }()
	if err := h.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if h.down.Load() {
		t.Fatal("still down after a write begun after the failure committed")
	}
	out := logs.String()
	if n, m := strings.Count(out, `msg="storage unavailable`), strings.Count(out, `msg="storage available again`); n != 1 || m != 1 {
		t.Fatalf("%d unavailable and %d available-again lines, want 1 and 1:\n%s", n, m, out)
	}
}

// batchWith runs one Batch on h that st answers with err.
func (h *health) batchWith(ctx context.Context, st *scriptedStore, err error) error {
	done := make(chan error, 1)
	go func() { done <- h.Batch(ctx, nil) }()
	st.batches <- err
	return <-done
}
