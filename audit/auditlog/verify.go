package auditlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// Verify walks every event of the log and checks the hash chain: each
// record's hash, its canonical form, its key, the links between events and
// the chain head, with an [audit.ChainChecker]. It never trusts the data it
// reads and never panics on it.
//
// When the walk completes, Verify returns the report; if the chain is broken
// it also returns an error wrapping the first *audit.ChainError (and
// audit.ErrCorrupt). Other errors (context, I/O) come with a nil report.
//
// Verify shows that the log is consistent with itself. Someone who can
// write the database can rewrite the chain and its head consistently; to
// detect that, compare Head with a copy kept elsewhere (see Log.Head).
//
// A Log with a chain key demands that the log end on a keyed event
// (ChainOptions.RequireKeyed): an upgraded log is keyed from its first
// append under the key (the server appends one at once).
func (l *Log) Verify(ctx context.Context) (*audit.VerifyReport, error) {
	return l.VerifyWith(ctx, audit.ChainOptions{RequireKeyed: true})
}

// VerifyWith is Verify with options: opts.From verifies only the tail
// from that seq (after a trusted signed head, as at start), opts.Head
// checks the log against a signed head the caller has authenticated.
// The log's own chain key is always used; opts.Key is ignored.
func (l *Log) VerifyWith(ctx context.Context, opts audit.ChainOptions) (*audit.VerifyReport, error) {
	opts.Key = l.key
	if err := l.settle(ctx); err != nil {
		return nil, errorf("verify: %w", err)
	}
	// Events sealed into the archive left the store: the chain in the
	// store starts right after the base (VerifyArchive checks the rest).
	var base *signedHead
	if err := l.db.View(ctx, func(tx store.Tx) error {
		var err error
		base, err = readBase(tx)
		return err
	}); err != nil {
		return nil, errorf("verify: %w", err)
	}
	if base != nil {
		if opts.From <= base.Head.Seq+1 {
			opts.From, opts.Anchor = 0, &base.Head
		}
		if opts.Head != nil && opts.Head.Seq <= base.Head.Seq {
			opts.Head = nil // in the archive
		}
	}
	c := audit.NewChainCheckerWith(opts)
	var resume []byte // key to continue from; nil: the first key
	if opts.From > 1 {
		resume = seqKey(opts.From)
	} else if opts.Anchor != nil {
		resume = seqKey(opts.Anchor.Seq + 1)
	}
	done := false
	for !done {
		if err := ctx.Err(); err != nil {
			return nil, errorf("verify: %w", err)
		}
		err := l.db.View(ctx, func(tx store.Tx) error {
			b := tx.Bucket(bucketName)
			n := 0
			more := false
			err := b.Range(resume, func(k, v []byte) error {
				if n == scanChunk {
					resume = append(resume[:0], k...) // continue in a new transaction
					more = true
					return store.Stop
				}
				n++
				if len(k) != 8 {
					if string(k) != string(headKey) {
						c.Fail(audit.ChainError{Kind: audit.KindCorrupt, Detail: fmt.Sprintf("unexpected key %.32x in audit bucket", k)})
					}
					return nil
				}
				c.CheckRecord(binary.BigEndian.Uint64(k), v)
				return nil
			})
			if err != nil || more {
				return err
			}
			done = true
			// Same transaction as the last events: the head must match.
			h, err := readHead(b)
			if err != nil {
				var ce *audit.ChainError
				if !errors.As(err, &ce) {
					return err
				}
				c.Fail(*ce)
				return nil
			}
			c.CheckHead(h.seq, h.hash)
			return nil
		})
		if err != nil {
			return nil, errorf("verify: %w", err)
		}
	}
	return c.Report()
}
