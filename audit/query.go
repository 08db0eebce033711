package audit

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/agentid/agentid/store"
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
	Limit    int       // at most this many events; 0 means no limit
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

func (f *Filter) match(ev *Event) bool {
	switch {
	case ev.Seq <= f.AfterSeq,
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

// scanChunk is how many records one read transaction visits. Callbacks run
// outside transactions, so a slow consumer never pins a read transaction
// (which would stop bbolt from growing its memory map for writers), and a
// consumer may itself write to the database.
const scanChunk = 1024

// item is an event with its stored bytes, copied out of the transaction.
type item struct {
	ev  *Event
	raw []byte
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

// scan calls fn, in seq order, for every event with seq > after that match
// accepts (nil accepts all). A record that cannot be parsed stops the scan
// with a *ChainError; scan does not check hashes (Verify does).
func (l *Log) scan(ctx context.Context, after uint64, match func(*Event) bool, fn func(item) error) error {
	next := after + 1
	if after == ^uint64(0) {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []item
		more := false
		err := l.db.View(ctx, func(tx store.Tx) error {
			n := 0
			return tx.Bucket(bucketName).Range(seqKey(next), func(k, v []byte) error {
				if len(k) != 8 {
					return nil // the chain head, or damage that Verify reports
				}
				if n == scanChunk {
					more = true
					return store.Stop
				}
				n++
				seq := binary.BigEndian.Uint64(k)
				next = seq + 1
				ev, kind, detail := parse(v)
				if ev == nil {
					return &ChainError{Seq: seq, Kind: kind, Detail: detail}
				}
				if match != nil && !match(ev) {
					return nil
				}
				batch = append(batch, item{ev: ev, raw: append([]byte(nil), v...)})
				if seq == ^uint64(0) {
					return store.Stop
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, it := range batch {
			if err := fn(it); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// Query calls fn for each event matching f, in seq order. Each call gets a
// fresh *Event the callee may keep. An error from fn stops the query and is
// returned as is. A record that cannot be parsed stops the query with an
// error wrapping ErrCorrupt; Query does not check the chain (use Verify).
//
// Query runs fn outside any database transaction, so fn may write to the
// database; events appended meanwhile may or may not be seen.
func (l *Log) Query(ctx context.Context, f Filter, fn func(*Event) error) error {
	return l.query(ctx, f, func(it item) error { return fn(it.ev) })
}

func (l *Log) query(ctx context.Context, f Filter, fn func(item) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	n := 0
	var fnErr error
	err := l.scan(ctx, f.AfterSeq, f.match, func(it item) error {
		if f.Limit > 0 && n >= f.Limit {
			return errStop
		}
		n++
		if err := fn(it); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	switch {
	case err == nil || err == errStop:
		return nil
	case fnErr != nil && err == fnErr:
		return err
	}
	var ce *ChainError
	if errors.As(err, &ce) {
		return err // already prefixed, and carries the seq
	}
	return errorf("query: %w", err)
}

// Export writes the events matching f to w as JSON lines: each line is the
// event exactly as stored (its canonical encoding, hash included) followed
// by "\n". An unfiltered export, or one with only AfterSeq set, can be
// checked offline with VerifyLines.
func (l *Log) Export(ctx context.Context, f Filter, w io.Writer) error {
	bw := bufio.NewWriter(w)
	err := l.query(ctx, f, func(it item) error {
		if _, err := bw.Write(it.raw); err != nil {
			return errorf("export: %w", err)
		}
		if err := bw.WriteByte('\n'); err != nil {
			return errorf("export: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return errorf("export: %w", err)
	}
	return nil
}
