package audit

import (
	"fmt"
	"time"
)

// Filter selects events. Empty fields match everything; set fields must all
// match.
type Filter struct {
	Agent    string    // Subject equals
	Actor    string    // Actor equals
	Action   string    // Action equals
	Decision string    // "", DecisionAllow or DecisionDeny
	Since    time.Time // Time at or after (zero: no bound)
	Until    time.Time // Time before (zero: no bound)
	AfterSeq uint64    // Seq greater than
	// BeforeSeq: Seq less than (0: no bound). With Reverse it is the
	// cursor of the next page back, as AfterSeq is forward.
	BeforeSeq uint64
	Limit     int // at most this many events; 0 means no limit
	// Reverse reads the events newest first (descending Seq), so that
	// Limit keeps the latest ones; the default is oldest first. It is an
	// order, not a condition: Match ignores it.
	Reverse bool
}

// Validate reports, wrapping ErrBadFilter, a filter that can match nothing
// by construction or is malformed.
func (f Filter) Validate() error {
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		return fmt.Errorf("%w: since %s is after until %s", ErrBadFilter,
			f.Since.UTC().Format(time.RFC3339Nano), f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: negative limit %d", ErrBadFilter, f.Limit)
	}
	if f.Decision != "" && f.Decision != DecisionAllow && f.Decision != DecisionDeny {
		return fmt.Errorf("%w: decision %q is neither %q nor %q", ErrBadFilter, f.Decision, DecisionAllow, DecisionDeny)
	}
	return nil
}

// Match reports whether ev passes every field of f but Limit, which bounds
// a whole query rather than one event and is the caller's to apply.
func (f *Filter) Match(ev *Event) bool {
	switch {
	case ev.Seq <= f.AfterSeq,
		f.BeforeSeq != 0 && ev.Seq >= f.BeforeSeq,
		f.Agent != "" && ev.Subject != f.Agent,
		f.Actor != "" && ev.Actor != f.Actor,
		f.Action != "" && ev.Action != f.Action,
		f.Decision != "" && ev.Decision != f.Decision,
		!f.Since.IsZero() && ev.Time.Before(f.Since),
		!f.Until.IsZero() && !ev.Time.Before(f.Until):
		return false
	}
	return true
}
