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
	// The first refusal of each bucket is written at once.
	evs := next.events()
	if len(evs) != 4 || evs[0].Reason != "malformed" || evs[1].Reason != "bad_signature" || evs[2].Reason != "malformed" || evs[3].Reason != "revoked" {
		t.Fatalf("events before the window ended: %+v", evs)
	}
	if a.Pending() != 9999 {
		t.Fatalf("pending %d, want 9999", a.Pending())
	}
	clk.Add(time.Minute)
	// The first call after the window ends writes the aggregate (and,
	// being the first of a new window, itself).
	_ = a.Record(ctx, &Event{Action: ActionVerify, Decision: DecisionDeny, Reason: "malformed"})
	evs = next.events()
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6: %+v", len(evs), evs)
	}
	agg := evs[4]
	if evs[5].Action != ActionVerify {
		agg = evs[5]
	}
	if agg.Action != ActionRefusalsAggregate || agg.Decision != DecisionDeny || agg.SourceIP != "192.0.2.1" || agg.Reason != "malformed" ||
		agg.Detail != "9999 further refusals of verify from 2026-03-01T12:00:05Z to 2026-03-01T12:00:05Z" {
		t.Errorf("aggregate = %+v", agg)
	}
	if a.Pending() != 0 {
		t.Fatalf("pending %d, want 0", a.Pending())
	}
	if err := a.Flush(context.Background()); err != nil || len(next.events()) != 6 {
		t.Fatalf("flush: %v, %d events", err, len(next.events()))
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
	if other == nil || other.Detail[:3] != "95 " { // the first was written alone
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
	if a.Pending() != 2 {
		t.Fatalf("pending %d, want 2", a.Pending())
	}
	next.mu.Lock()
	next.fail = nil
	next.mu.Unlock()
	if err := a.Flush(context.Background()); err != nil || len(next.events()) != 1 {
		t.Fatalf("flush: %v, %d events", err, len(next.events()))
	}
}
