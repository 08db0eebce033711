package publish

// End-to-end tests of the Checker against a real Store, Publisher and
// Feed. They live here, not in statuslist, because statuslist's tests
// cannot import this package; they use only the Checker's public API.

import (
	"context"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
)

// TestRevocationWithinOneSecond is the acceptance test: with the
// Checker subscribed to the feed, a revocation is refused in under a
// second, although the list's ttl is five minutes.
func TestRevocationWithinOneSecond(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, envOptions{})
	connected := make(chan struct{}, 8)
	e.setOnConnect(func(string) { connected <- struct{}{} })
	if err := e.checker.Subscribe(ctx, e.base+"/v1/status/events"); err != nil {
		t.Fatal(err)
	}
	<-connected
	rev, sus := e.allocate(t)
	entries := []vc.StatusEntry{rev, sus}
	wantCode(t, e.checker.Check(ctx, testIssuer, entries), "")
	hits := e.hits.Load()
	for i := 0; i < 100; i++ {
		wantCode(t, e.checker.Check(ctx, testIssuer, entries), "")
	}
	if e.hits.Load() != hits {
		t.Fatal("cached lists were refetched")
	}

	start := time.Now()
	if err := e.store.Set(ctx, rev, true); err != nil {
		t.Fatal(err)
	}
	var err error
	for time.Since(start) < 3*time.Second {
		if err = e.checker.Check(ctx, testIssuer, entries); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	wantCode(t, err, reason.Revoked)
	t.Logf("revocation seen after %v", elapsed)
	if elapsed >= time.Second {
		t.Fatalf("revocation took %v to reach the verifier", elapsed)
	}
}

func TestSuspendAndReinstate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, envOptions{})
	connected := make(chan struct{}, 8)
	e.setOnConnect(func(string) { connected <- struct{}{} })
	if err := e.checker.Subscribe(ctx, e.base+"/v1/status/events"); err != nil {
		t.Fatal(err)
	}
	<-connected
	rev, sus := e.allocate(t)
	entries := []vc.StatusEntry{rev, sus}
	waitFor := func(want reason.Code) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			err := e.checker.Check(ctx, testIssuer, entries)
			c, _ := reason.CodeOf(err)
			if c == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("got %v, want %q", err, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("")
	if err := e.store.Set(ctx, sus, true); err != nil {
		t.Fatal(err)
	}
	waitFor(reason.Suspended)
	if err := e.store.Set(ctx, sus, false); err != nil {
		t.Fatal(err)
	}
	waitFor("")
	// Revocation wins over suspension.
	e.store.Set(ctx, sus, true)
	e.store.Set(ctx, rev, true)
	waitFor(reason.Revoked)
}

// TestCacheBounds: a list is cached for min(ttl, MaxAge), revalidated with
// If-None-Match, and never used past validUntil (with revalidation
// between, which TestRevalidateWithoutFeed covers, turned off).
func TestCacheBounds(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, envOptions{store: Options{Now: clock.Now, TTL: time.Minute}, checker: statuslist.CheckerOptions{Now: clock.Now, MaxAge: 2 * time.Minute, Revalidate: -1}})
	rev, _ := e.allocate(t)
	entries := []vc.StatusEntry{rev}
	check := func(want reason.Code, wantHits int64) {
		t.Helper()
		wantCode(t, e.checker.Check(context.Background(), testIssuer, entries), want)
		if n := e.hits.Load(); n != wantHits {
			t.Fatalf("%d fetches, want %d", n, wantHits)
		}
	}
	check("", 1)
	clock.Add(59 * time.Second)
	check("", 1)
	clock.Add(2 * time.Second) // past the 1-minute ttl
	check("", 2)               // revalidated: 304
	clock.Add(30 * time.Second)
	check("", 2)
	// Without the feed, a revocation is seen once the ttl runs out.
	if err := e.store.Set(context.Background(), rev, true); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, e.pub)
	check("", 2)
	clock.Add(31 * time.Second)
	check(reason.Revoked, 3)

	// MaxAge caps a long ttl.
	e2 := newEnv(t, envOptions{store: Options{Now: clock.Now, TTL: time.Hour}, checker: statuslist.CheckerOptions{Now: clock.Now, MaxAge: time.Minute, Revalidate: -1}})
	rev2, _ := e2.allocate(t)
	wantCode(t, e2.checker.Check(context.Background(), testIssuer, []vc.StatusEntry{rev2}), "")
	clock.Add(61 * time.Second)
	wantCode(t, e2.checker.Check(context.Background(), testIssuer, []vc.StatusEntry{rev2}), "")
	if n := e2.hits.Load(); n != 2 {
		t.Fatalf("MaxAge: %d fetches, want 2", n)
	}
}

// TestSubscribeReconnects: when the stream drops, the Checker reconnects
// and drops every list of that origin, since it may have missed events.
func TestSubscribeReconnects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, envOptions{})
	connected := make(chan struct{}, 8)
	e.setOnConnect(func(string) { connected <- struct{}{} })
	if err := e.checker.Subscribe(ctx, e.base+"/v1/status/events"); err != nil {
		t.Fatal(err)
	}
	<-connected
	rev, _ := e.allocate(t)
	wantCode(t, e.checker.Check(ctx, testIssuer, []vc.StatusEntry{rev}), "")
	// A change made while the verifier is disconnected: close every stream
	// and flip the bit before it can reconnect.
	e.feed.Close() // the publisher's events for this change reach no one
	if err := e.store.Set(ctx, rev, true); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, e.pub)
	wantCode(t, e.checker.Check(ctx, testIssuer, []vc.StatusEntry{rev}), "") // still cached
	// Reopen the feed; the client reconnects on its own.
	f2 := NewFeed(FeedOptions{})
	defer f2.Close()
	swapFeed(e, f2)
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnect")
	}
	wantCode(t, e.checker.Check(ctx, testIssuer, []vc.StatusEntry{rev}), reason.Revoked)
	// After ctx ends the client stops.
	cancel()
	time.Sleep(50 * time.Millisecond)
	if n := f2.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after cancel", n)
	}
}

// swapFeed replaces the feed served at /v1/status/events.
func swapFeed(e *env, f *Feed) {
	e.feedMu.Lock()
	e.feed = f
	e.feedMu.Unlock()
}

// TestRevalidateWithoutFeed: a Checker with no change feed (never
// subscribed, or refused a slot) revalidates its lists every Revalidate
// by ETag, so a revocation is seen within that interval rather than
// within the list's five-minute ttl.
func TestRevalidateWithoutFeed(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, envOptions{store: Options{Now: clock.Now, TTL: 5 * time.Minute},
		checker: statuslist.CheckerOptions{Now: clock.Now, Revalidate: 3 * time.Second}})
	rev, _ := e.allocate(t)
	entries := []vc.StatusEntry{rev}
	check := func(want reason.Code, wantHits int64) {
		t.Helper()
		wantCode(t, e.checker.Check(context.Background(), testIssuer, entries), want)
		if n := e.hits.Load(); n != wantHits {
			t.Fatalf("%d requests, want %d", n, wantHits)
		}
	}
	check("", 1)
	clock.Add(2 * time.Second)
	check("", 1) // within the interval: cached
	clock.Add(2 * time.Second)
	check("", 2) // revalidated: 304 keeps the list
	if err := e.store.Set(context.Background(), rev, true); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, e.pub)
	check("", 2) // cached until the interval ends
	clock.Add(3 * time.Second)
	check(reason.Revoked, 3)
}

// With a live change feed, lists are trusted for their ttl: events do
// the work, and no revalidation request is made.
func TestNoRevalidationWhileFeedIsLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newFakeClock()
	e := newEnv(t, envOptions{store: Options{Now: clock.Now, TTL: 5 * time.Minute},
		checker: statuslist.CheckerOptions{Now: clock.Now, Revalidate: 3 * time.Second}})
	connected := make(chan struct{}, 8)
	e.setOnConnect(func(string) { connected <- struct{}{} })
	if err := e.checker.Subscribe(ctx, e.base+"/v1/status/events"); err != nil {
		t.Fatal(err)
	}
	<-connected
	rev, _ := e.allocate(t)
	wantCode(t, e.checker.Check(ctx, testIssuer, []vc.StatusEntry{rev}), "")
	clock.Add(time.Minute)
	wantCode(t, e.checker.Check(ctx, testIssuer, []vc.StatusEntry{rev}), "")
	if n := e.hits.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}
