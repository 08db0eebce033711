package auditlog

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// scanChunk is how many records one read transaction visits. Callbacks run
// outside transactions, so a slow consumer never pins a read transaction
// (which would stop bbolt from growing its memory map for writers), and a
// consumer may itself write to the database.
const scanChunk = 1024

// item is an event with its stored bytes, copied out of the transaction.
type item struct {
	ev  *audit.Event
	raw []byte
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

// scan calls fn, in seq order, for every event with seq > after that match
// accepts (nil accepts all). A record that cannot be parsed stops the scan
// with a *audit.ChainError; scan does not check hashes (Verify does).
func (l *Log) scan(ctx context.Context, after uint64, match func(*audit.Event) bool, fn func(item) error) error {
	next := after + 1
	if after == ^uint64(0) {
		return nil
	}
	if err := l.settle(ctx); err != nil {
		return err
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
				ev, err := audit.ParseRecord(seq, v)
				if err != nil {
					return err
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

// scanDesc is scan newest first: it calls fn, in descending seq order, for
// every event with after < seq < before (before 0: no upper bound) that
// match accepts. It reads a window of scanChunk seqs at a time, from the
// chain head (or before) down to the oldest event the store holds (older
// ones were rolled into segments) or to after, so that a caller that stops
// early (a limit reached) reads only the windows it needed: the newest
// events of a log of millions cost what they would in a log of a thousand.
// Events appended after it started are not seen.
func (l *Log) scanDesc(ctx context.Context, after, before uint64, match func(*audit.Event) bool, fn func(item) error) error {
	if after == ^uint64(0) || before == 1 {
		return nil
	}
	if err := l.settle(ctx); err != nil {
		return err
	}
	var hi, floor uint64 // the next window's top seq; the lowest seq to read
	empty := true
	err := l.db.View(ctx, func(tx store.Tx) error {
		b := tx.Bucket(bucketName)
		h, err := readHead(b)
		if err != nil {
			return err
		}
		hi = h.seq
		// Seq keys sort before the other keys of the bucket (the base
		// and the chain head): the first one is the oldest event held.
		return b.Range(nil, func(k, _ []byte) error {
			if len(k) != 8 {
				return nil
			}
			floor, empty = binary.BigEndian.Uint64(k), false
			return store.Stop
		})
	})
	if err != nil || empty {
		return err
	}
	if before != 0 && before-1 < hi {
		hi = before - 1
	}
	floor = max(floor, after+1)
	for hi >= floor {
		if err := ctx.Err(); err != nil {
			return err
		}
		lo := floor
		if hi-floor >= scanChunk {
			lo = hi - scanChunk + 1
		}
		var batch []item
		err := l.db.View(ctx, func(tx store.Tx) error {
			return tx.Bucket(bucketName).Range(seqKey(lo), func(k, v []byte) error {
				if len(k) != 8 {
					return nil // the chain head, or damage that Verify reports
				}
				seq := binary.BigEndian.Uint64(k)
				if seq > hi {
					return store.Stop
				}
				ev, err := audit.ParseRecord(seq, v)
				if err != nil {
					return err
				}
				if match == nil || match(ev) {
					batch = append(batch, item{ev: ev, raw: append([]byte(nil), v...)})
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for i := len(batch) - 1; i >= 0; i-- {
			if err := fn(batch[i]); err != nil {
				return err
			}
		}
		if lo == floor {
			return nil
		}
		hi = lo - 1
	}
	return nil
}

// Query calls fn for each event matching f, in seq order, or newest first
// when f.Reverse is set (f.Limit then keeps the latest events, and only
// the end of the log is read). Each call gets a fresh *audit.Event the
// callee may keep. An error from fn stops the query
// and is returned as is. A record that cannot be parsed stops the query
// with an error wrapping [audit.ErrCorrupt]; Query does not check the chain
// (use Verify).
//
// Query runs fn outside any database transaction, so fn may write to the
// database; events appended meanwhile may or may not be seen.
func (l *Log) Query(ctx context.Context, f audit.Filter, fn func(*audit.Event) error) error {
	return l.query(ctx, f, func(it item) error { return fn(it.ev) })
}

func (l *Log) query(ctx context.Context, f audit.Filter, fn func(item) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	n := 0
	var fnErr error
	each := func(it item) error {
		if f.Limit > 0 && n >= f.Limit {
			return errStop
		}
		n++
		if err := fn(it); err != nil {
			fnErr = err
			return err
		}
		return nil
	}
	var err error
	if f.Reverse {
		err = l.scanDesc(ctx, f.AfterSeq, f.BeforeSeq, f.Match, each)
	} else if f.BeforeSeq != 0 {
		// Oldest first up to BeforeSeq: the first event at or past it
		// ends the scan, rather than Match refusing every later one.
		match := func(ev *audit.Event) bool { return ev.Seq >= f.BeforeSeq || f.Match(ev) }
		err = l.scan(ctx, f.AfterSeq, match, func(it item) error {
			if it.ev.Seq >= f.BeforeSeq {
				return errStop
			}
			return each(it)
		})
	} else {
		err = l.scan(ctx, f.AfterSeq, f.Match, each)
	}
	switch {
	case err == nil || err == errStop:
		return nil
	case fnErr != nil && err == fnErr:
		return err
	}
	var ce *audit.ChainError
	if errors.As(err, &ce) {
		return err // already prefixed, and carries the seq
	}
	return errorf("query: %w", err)
}

// Export writes the events matching f to w as JSON lines: each line is the
// event exactly as stored (its canonical encoding, hash included) followed
// by "\n". An unfiltered export, or one with only AfterSeq or BeforeSeq
// set, can be checked offline with [audit.VerifyLines]; one with Reverse
// set lists the events newest first, which VerifyLines refuses.
func (l *Log) Export(ctx context.Context, f audit.Filter, w io.Writer) error {
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
