package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ActionRefusalsAggregate is the action of an event that stands for many
// refusals of unauthenticated callers: Aggregator writes one per source,
// action, reason and window. Its Reason is the refusals' reason code, its
// SourceIP their source, and its Detail says how many there were, of what
// action, and when.
const ActionRefusalsAggregate = "refusals.aggregate"

// OtherSources is the source of the aggregate that takes the refusals of
// every source beyond AggregatorOptions.MaxBuckets.
const OtherSources = "other"

// Aggregator defaults.
const (
	DefaultAggregateWindow = time.Minute
	DefaultMaxBuckets      = 1024
)

// AggregatorOptions configure an Aggregator. The zero value is usable.
type AggregatorOptions struct {
	// Now is the clock, time.Now by default.
	Now func() time.Time
	// Window is the length of one bucket, DefaultAggregateWindow by
	// default; buckets are aligned to multiples of it.
	Window time.Duration
	// MaxBuckets bounds the buckets held in memory, DefaultMaxBuckets by
	// default. Once it is reached, refusals from further sources are
	// counted under the source OtherSources.
	MaxBuckets int
	// Aggregate decides which events Record counts instead of passing on.
	// By default: denials that name no credential, that is refusals of a
	// caller whom no trusted issuer vouched for (see Unvouched).
	Aggregate func(*Event) bool
}

// Aggregator counts refusals of unauthenticated callers in memory, per
// (source, action, reason, actor, window): the first refusal of a bucket
// is written to the next sink as it is, and the rest as ONE event
// (ActionRefusalsAggregate) once the window has ended. A flood of garbage
// requests thus costs two durable events per source and reason a minute
// rather than one per request, and the memory it holds is bounded by
// MaxBuckets. The actor is the holder whose signature verified, if any
// (a replayed token, a self-made did:key): a flood of one token is one
// bucket, and a spray of fresh keys fills the bounded buckets and
// overflows into OtherSources.
//
// Record makes an Aggregator a Sink in front of another: events that
// AggregatorOptions.Aggregate selects are counted, every other event is
// recorded by the next sink at once. Count counts an event whatever it
// is. Due buckets are written by the next call to Count or Record after
// their window ends, by Run, or by Flush.
//
// A counted refusal is not durable when the caller is answered: it
// changes nothing, and what is recorded of it is the aggregate. Events
// that record a decision about an authenticated caller must not be
// counted.
type Aggregator struct {
	next      Sink
	now       func() time.Time
	window    time.Duration
	max       int
	aggregate func(*Event) bool

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
	due     time.Time // earliest end of a bucket's window; zero: none
}

type bucketKey struct {
	source, action, reason, actor string
	start                         int64 // Unix ns, a multiple of window
}

// bucket counts the refusals after the first of its window, which was
// written on its own.
type bucket struct {
	count       uint64
	first, last time.Time // of the counted refusals
}

// NewAggregator returns an Aggregator that writes its aggregates to next.
func NewAggregator(next Sink, opts AggregatorOptions) *Aggregator {
	a := &Aggregator{next: next, now: opts.Now, window: opts.Window, max: opts.MaxBuckets,
		aggregate: opts.Aggregate, buckets: map[bucketKey]*bucket{}}
	if a.now == nil {
		a.now = time.Now
	}
	if a.window <= 0 {
		a.window = DefaultAggregateWindow
	}
	if a.max <= 0 {
		a.max = DefaultMaxBuckets
	}
	if a.aggregate == nil {
		a.aggregate = Unvouched
	}
	return a
}

// Unvouched reports whether ev is a denial that names no credential: the
// caller presented nothing a trusted issuer had signed, or it was refused
// before that was checked.
func Unvouched(ev *Event) bool { return ev.Decision == DecisionDeny && ev.Credential == "" }

type sourceKey struct{}

// WithSource returns a context that carries the network source of a
// request (the client's IP address), which Aggregator uses as the bucket
// of the refusals recorded under it.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// SourceFrom returns the source set by WithSource, or "".
func SourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// Record implements Sink: events that the Aggregate option selects are
// counted (see Count), every other event is recorded by the next sink.
func (a *Aggregator) Record(ctx context.Context, ev *Event) error {
	if ev == nil {
		return errorf("record: nil event")
	}
	if a.aggregate(ev) {
		return a.Count(ctx, ev)
	}
	if err := a.flushDue(ctx); err != nil {
		return err
	}
	return a.next.Record(ctx, ev)
}

// Count takes ev, a refusal, into the bucket of its source (WithSource on
// ctx, else ev.SourceIP), action, reason, actor and window. The first
// refusal of a bucket is written to the next sink at once, in full, so
// that a new kind of refusal is seen without delay; the following ones
// are counted. Count then writes the aggregates whose window has ended.
// The failure of either write is returned.
func (a *Aggregator) Count(ctx context.Context, ev *Event) error {
	now := a.now()
	source := SourceFrom(ctx)
	if source == "" {
		source = ev.SourceIP
	}
	if source == "" {
		source = "unknown"
	}
	k := bucketKey{source: source, action: ev.Action, reason: ev.Reason, actor: ev.Actor, start: a.start(now)}
	a.mu.Lock()
	b := a.buckets[k]
	if b == nil && len(a.buckets) >= a.max {
		k.source, k.actor = OtherSources, ""
		b = a.buckets[k]
	}
	first := b == nil
	if first {
		a.buckets[k] = &bucket{}
		if end := time.Unix(0, k.start).Add(a.window); a.due.IsZero() || end.Before(a.due) {
			a.due = end
		}
	} else {
		if b.count == 0 {
			b.first = now
		}
		b.count++
		b.last = now
	}
	a.mu.Unlock()
	if first {
		if k.source == OtherSources && ev.SourceIP == "" {
			ev.SourceIP = source
		}
		if err := a.next.Record(ctx, ev); err != nil {
			return err
		}
	}
	return a.flushDue(ctx)
}

func (a *Aggregator) start(t time.Time) int64 {
	ns := t.UnixNano()
	return ns - ns%int64(a.window)
}

// Pending returns the number of refusals counted and not yet written.
func (a *Aggregator) Pending() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n uint64
	for _, b := range a.buckets {
		n += b.count
	}
	return n
}

func (a *Aggregator) flushDue(ctx context.Context) error {
	now := a.now()
	a.mu.Lock()
	due := !a.due.IsZero() && !now.Before(a.due)
	a.mu.Unlock()
	if !due {
		return nil
	}
	return a.flush(ctx, now, false)
}

// Flush writes every bucket, ended or not, to the next sink: for shutdown
// and tests.
func (a *Aggregator) Flush(ctx context.Context) error { return a.flush(ctx, a.now(), true) }

// Run writes due buckets every quarter window until ctx ends, then
// flushes the rest with a context bounded by a few seconds.
func (a *Aggregator) Run(ctx context.Context) {
	t := time.NewTicker(a.window / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = a.Flush(fctx)
			cancel()
			return
		case <-t.C:
			_ = a.flushDue(ctx)
		}
	}
}

type taken struct {
	k bucketKey
	b *bucket
}

// flush takes the buckets whose window ended by now (all of them with
// all) out of the map, writes them in order, and puts back those it could
// not write.
func (a *Aggregator) flush(ctx context.Context, now time.Time, all bool) error {
	a.mu.Lock()
	var out []taken
	cut := a.start(now)
	a.due = time.Time{}
	for k, b := range a.buckets {
		if all || k.start < cut {
			out = append(out, taken{k, b})
			delete(a.buckets, k)
			continue
		}
		if end := time.Unix(0, k.start).Add(a.window); a.due.IsZero() || end.Before(a.due) {
			a.due = end
		}
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y taken) int {
		return cmp.Or(cmp.Compare(x.k.start, y.k.start), cmp.Compare(x.k.source, y.k.source),
			cmp.Compare(x.k.action, y.k.action), cmp.Compare(x.k.reason, y.k.reason), cmp.Compare(x.k.actor, y.k.actor))
	})
	for i, t := range out {
		if t.b.count == 0 {
			continue // only the first refusal, already written
		}
		ev := &Event{
			Time: now.UTC(), Action: ActionRefusalsAggregate, Decision: DecisionDeny,
			Reason: t.k.reason, SourceIP: t.k.source, Actor: t.k.actor, Subject: t.k.actor,
			Detail: fmt.Sprintf("%d further refusals of %s from %s to %s", t.b.count, t.k.action,
				t.b.first.UTC().Format(time.RFC3339), t.b.last.UTC().Format(time.RFC3339)),
		}
		if err := a.next.Record(ctx, ev); err != nil {
			a.putBack(out[i:])
			return errorf("aggregate: %w", err)
		}
	}
	return nil
}

// putBack merges buckets that could not be written into the map, so that
// their counts are written with a later flush. It may exceed MaxBuckets
// by the buckets of one flush.
func (a *Aggregator) putBack(ts []taken) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range ts {
		if b := a.buckets[t.k]; b != nil {
			if b.count == 0 || t.b.first.Before(b.first) {
				b.first = t.b.first
			}
			b.count += t.b.count
			if t.b.last.After(b.last) {
				b.last = t.b.last
			}
			continue
		}
		a.buckets[t.k] = t.b
		if end := time.Unix(0, t.k.start).Add(a.window); a.due.IsZero() || end.Before(a.due) {
			a.due = end
		}
	}
}
