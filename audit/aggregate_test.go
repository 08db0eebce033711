package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

type memSink struct {
	mu   sync.Mutex
	evs  []Event
	fail error
}

func (m *memSink) Record(_ context.Context, ev *Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.evs = append(m.evs, *ev)
	return nil
}

func (m *memSink) events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.evs...)
}

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestAggregatorOneEventPerBucket(t *testing.T) {
	clk := &stepClock{t: time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)}
	next := &memSink{}
	a := NewAggregator(next, AggregatorOptions{Now: clk.Now})
	ctx := WithSource(context.Background(), "192.0.2.1")
	other := WithSource(context.Background(), "192.0.2.2")
	for range 10_000 {
		if err := a.Record(ctx, &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "malformed"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = a.Record(ctx, &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "bad_signature"})
	_ = a.Record(other, &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "malformed"})
	// A decision about a vouched-for caller passes straight through.
	if err := a.Record(ctx, &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "revoked", Credential: "urn:uuid:1"}); err != nil {
		t.Fatal(err)
	}
	if got := len(next.events()); got != 1 {
		t.Fatalf("%d events before the window ended, want 1 (the vouched-for denial)", got)
	}
	clk.Add(time.Minute)
	// The first call after the window ends writes the three buckets.
	_ = a.Record(ctx, &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "malformed"})
	evs := next.events()
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4: %+v", len(evs), evs)
	}
	want := []struct{ src, reason, detail string }{
		{"192.0.2.1", "bad_signature", "1 refusals of verify from 2026-03-01T12:00:05Z to 2026-03-01T12:00:05Z"},
		{"192.0.2.1", "malformed", "10000 refusals of verify from 2026-03-01T12:00:05Z to 2026-03-01T12:00:05Z"},
		{"192.0.2.2", "malformed", "1 refusals of verify from 2026-03-01T12:00:05Z to 2026-03-01T12:00:05Z"},
	}
	for i, w := range want {
		ev := evs[1+i]
		if ev.Action != ActionRefusalsAggregate || ev.Decision != DecisionDeny || ev.SourceIP != w.src || ev.Reason != w.reason || ev.Detail != w.detail {
			t.Errorf("aggregate %d = %+v, want %+v", i, ev, w)
		}
	}
	if a.Pending() != 1 {
		t.Fatalf("pending %d, want 1", a.Pending())
	}
	if err := a.Flush(context.Background()); err != nil || len(next.events()) != 5 || a.Pending() != 0 {
		t.Fatalf("flush: %v, %d events, %d pending", err, len(next.events()), a.Pending())
	}
}

func TestAggregatorBoundedBuckets(t *testing.T) {
	clk := &stepClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	next := &memSink{}
	a := NewAggregator(next, AggregatorOptions{Now: clk.Now, MaxBuckets: 4})
	for i := range 100 {
		ctx := WithSource(context.Background(), fmt.Sprintf("198.51.100.%d", i))
		_ = a.Count(ctx, &Event{Action: "authenticate", Decision: DecisionDeny, Reason: "bad_signature"})
	}
	a.mu.Lock()
	n := len(a.buckets)
	a.mu.Unlock()
	if n != 5 { // four sources and the overflow
		t.Fatalf("%d buckets, want 5", n)
	}
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var other *Event
	for _, ev := range next.events() {
		if ev.SourceIP == OtherSources {
			other = &ev
		}
	}
	if other == nil || other.Detail[:3] != "96 " {
		t.Fatalf("overflow aggregate: %+v", other)
	}
}

// A bucket that cannot be written is kept, and the failure is returned.
func TestAggregatorWriteFailureKeepsCounts(t *testing.T) {
	clk := &stepClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	boom := errors.New("disk full")
	next := &memSink{fail: boom}
	a := NewAggregator(next, AggregatorOptions{Now: clk.Now})
	for range 3 {
		_ = a.Count(context.Background(), &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "malformed", SourceIP: "192.0.2.9"})
	}
	clk.Add(time.Minute)
	if err := a.Count(context.Background(), &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "malformed"}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the sink's failure", err)
	}
	if a.Pending() != 4 {
		t.Fatalf("pending %d, want 4", a.Pending())
	}
	next.mu.Lock()
	next.fail = nil
	next.mu.Unlock()
	if err := a.Flush(context.Background()); err != nil || len(next.events()) != 2 {
		t.Fatalf("flush: %v, %d events", err, len(next.events()))
	}
}
