package verifier

import (
	"context"
	"testing"
	"time"
)

// blockingReplay is a replay cache whose Record waits until released, as
// a shared database does for a round trip.
type blockingReplay struct {
	inner   *MemoryReplayCache
	entered chan struct{}
	release chan struct{}
}

func (r *blockingReplay) Seen(h, j string, now time.Time) bool { return r.inner.Seen(h, j, now) }

func (r *blockingReplay) Record(h, j string, exp, now time.Time) error {
	r.entered <- struct{}{}
	<-r.release
	return r.inner.Record(h, j, exp, now)
}

// TestReplayWaitHoldsNoSlot: on a verifier with a single concurrency
// slot, verifications waiting for the replay cache to record their jti
// hold no slot, so others compute meanwhile and reach the cache too.
// Before, each held the only slot through the wait.
func TestReplayWaitHoldsNoSlot(t *testing.T) {
	e := newEnv(t)
	br := &blockingReplay{inner: NewMemoryReplayCache(0), entered: make(chan struct{}, 4), release: make(chan struct{})}
	v, err := New(WithKeyResolver(e.keys), WithTrustedIssuers(issuerDID), WithStatusChecker(e.status),
		WithClock(e.clock.Now), WithAudience(audience), WithConcurrency(1), WithReplayCache(br))
	if err != nil {
		t.Fatal(err)
	}
	cred := e.credential(e.agent.DID, nil)
	done := make(chan error, 4)
	for range 4 {
		p := e.present(e.agent, cred, nil)
		go func() { _, err := v.Verify(context.Background(), p, req()); done <- err }()
	}
	for i := range 4 {
		select {
		case <-br.entered:
		case <-time.After(5 * time.Second):
			close(br.release)
			t.Fatalf("%d of 4 verifications reached the replay cache: the others wait for the slot held by a waiting one", i)
		}
	}
	close(br.release)
	for range 4 {
		if err := <-done; err != nil {
			t.Errorf("verification: %v", err)
		}
	}
}
