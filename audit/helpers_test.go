package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// t0 is the fixed epoch of the test clocks.
var t0 = time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)

// chainLines seals evs into one chain with JSONLines and returns its lines,
// each ending in "\n" (and a last, empty one), as an export of the durable
// log would. Events with a zero Time are stamped t0+1s, t0+2s... in order,
// the times the durable log's test clock gives them.
func chainLines(tb testing.TB, evs ...*Event) [][]byte {
	tb.Helper()
	var buf bytes.Buffer
	sink := JSONLines(&buf)
	for i, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = t0.Add(time.Duration(i+1) * time.Second)
		}
		if err := sink.Record(context.Background(), ev); err != nil {
			tb.Fatalf("record %+v: %v", ev, err)
		}
	}
	return bytes.SplitAfter(buf.Bytes(), []byte("\n"))
}

// seedLines returns the lines of a chain of n verify events alternating
// between two agents, actors and decisions.
func seedLines(tb testing.TB, n int) [][]byte {
	tb.Helper()
	evs := make([]*Event, n)
	for i := range n {
		evs[i] = &Event{
			Action:   ActionVerify,
			Actor:    fmt.Sprintf("did:key:actor%d", i%2),
			Subject:  fmt.Sprintf("did:key:agent%d", i%2),
			Resource: "https://calendar.example.com",
			Decision: DecisionAllow,
		}
		if i%3 == 2 {
			evs[i].Decision, evs[i].Reason = DecisionDeny, "expired"
		}
	}
	return chainLines(tb, evs...)
}

// chainErrors flattens a report to "seq:kind" strings.
func chainErrors(rep *VerifyReport) []string {
	var out []string
	for _, e := range rep.Errors {
		out = append(out, fmt.Sprintf("%d:%s", e.Seq, e.Kind))
	}
	return out
}

// mustBeCorrupt checks that err reports a broken chain in the package's way.
func mustBeCorrupt(tb testing.TB, err error) {
	tb.Helper()
	var ce *ChainError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		tb.Fatalf("err = %v, want a *ChainError wrapping ErrCorrupt", err)
	}
}
