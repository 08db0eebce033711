package audit

import (
	"context"
	"io"
	"sync"
	"time"
)

// Sink receives audit events. Verifiers embedded in other programs write
// their decisions to a Sink; JSONLines, Discard, *Forwarder and the
// durable log, *[github.com/agentid/agentid/audit/auditlog.Log], implement
// it.
type Sink interface {
	// Record stores ev. Implementations may set ev's Seq, Time, Prev and
	// Hash; callers must not use ev concurrently with Record.
	Record(ctx context.Context, ev *Event) error
}

// Discard is a Sink that drops every event, for tests and benchmarks.
var Discard Sink = discard{}

type discard struct{}

func (discard) Record(context.Context, *Event) error { return nil }

// JSONLines returns a Sink that writes each event to w as one JSON line,
// with one Write call per line, serialised by a mutex.
//
// The sink chains events in memory: the first event it records gets Seq 1
// and Prev GenesisPrev, and every line is sealed with Seal, exactly as the
// durable log seals a record, so the output verifies with VerifyLines. Each sink starts a new
// chain, so give each sink its own file (appending a second chain to an
// existing file makes it fail verification). Events with a zero Time are
// stamped with time.Now.
//
// If a write fails, Record returns the error and the chain does not
// advance; a partial line left in w will show up as a corrupt line.
func JSONLines(w io.Writer) Sink {
	return &jsonLines{w: w, prev: GenesisPrev}
}

type jsonLines struct {
	mu   sync.Mutex
	w    io.Writer
	seq  uint64
	prev string
	buf  []byte
}

func (j *jsonLines) Record(ctx context.Context, ev *Event) error {
	if ev == nil {
		return errorf("record: nil event")
	}
	if err := ctx.Err(); err != nil {
		return errorf("record: %w", err)
	}
	c := *ev
	if err := Prepare(&c, time.Now); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	c.Seq, c.Prev = j.seq+1, j.prev
	rec, err := Seal(&c)
	if err != nil {
		return err
	}
	j.buf = append(append(j.buf[:0], rec...), '\n')
	if _, err := j.w.Write(j.buf); err != nil {
		return errorf("record: %w", err)
	}
	j.seq, j.prev = c.Seq, c.Hash
	*ev = c
	return nil
}
