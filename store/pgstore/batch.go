package pgstore

import (
	"context"

	"github.com/agentid/agentid/store"
)

// call is one Batch caller waiting for its result.
type call struct {
	ctx  context.Context
	fn   func(store.Tx) error
	err  error
	done chan struct{}
}

// Batch implements store.Store. Callers that arrive while a commit is in
// flight share the next one: no timer, so a lone caller does not wait,
// and under load one commit serves many callers. Each function's writes
// stay apart until it returns; one that fails is dropped alone, and the
// others are not run again. A caller whose context ends before its
// function ran gets the context's error; once its function has run, the
// caller waits for the commit, so that an error always means "not
// committed" (but see the package doc on a connection lost during COMMIT).
func (s *Store) Batch(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	c := &call{ctx: ctx, fn: fn, done: make(chan struct{})}
	s.batches.Add(c)
	<-c.done
	return c.err
}

func (s *Store) runBatch(calls []*call) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.o.TxTimeout)
	defer cancel()
	var ok []*call
	var commits [][]func()
	err := s.write(ctx, func(t *txn) error {
		for _, c := range calls {
			if err := c.ctx.Err(); err != nil {
				c.err = err
				continue
			}
			t.push()
			t.onCommit = nil
			err := c.fn(t)
			if t.err != nil {
				return t.err
			}
			t.pop(err == nil)
			if err != nil {
				c.err = err
				continue
			}
			ok = append(ok, c)
			commits = append(commits, t.onCommit)
		}
		t.onCommit = nil
		return nil
	}, func(*txn) {
		for _, fns := range commits {
			for _, f := range fns {
				f()
			}
		}
	})
	if err != nil {
		// Nothing committed: every call whose function ran shares the
		// failure (those refused by their own function keep their error).
		for _, c := range calls {
			if c.err == nil {
				c.err = err
			}
		}
	}
	for _, c := range calls {
		close(c.done)
	}
}
