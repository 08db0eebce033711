package boltstore

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// maxBatch bounds how many Batch callers share one commit (bbolt's own
// default MaxBatchSize).
const maxBatch = 1000

// batchCall is one Batch caller waiting for its result.
type batchCall struct {
	fn  func(*bbolt.Tx) error
	err chan error
}

// errTrySolo tells a caller whose function failed inside a batch to run it
// again alone, so that the error it gets is its own.
var errTrySolo = errors.New("boltstore: run the function in a transaction of its own")

// batch is the group commit behind Batch. Callers that arrive while a
// commit is in flight share the next one; a lone caller commits at once.
// bbolt's own db.Batch starts a batch per MaxBatchDelay window instead, so
// that under load several small batches queue behind the writer lock, each
// paying its own fsyncs: with 64 issuing callers most of the time went to
// fdatasync (docs/performance.md). As with db.Batch, a function that fails
// rolls the whole transaction back; the others run again without it, and
// it runs again alone in its caller's goroutine, where a panic it raises
// is its caller's.
func (s *Store) batch(fn func(*bbolt.Tx) error) error {
	c := &batchCall{fn: fn, err: make(chan error, 1)}
	s.batches.Add(c)
	err := <-c.err
	if err == errTrySolo {
		err = s.db.Update(fn)
	}
	return err
}

// runBatch runs calls in one transaction, as bbolt's batch does: the
// first function to fail is taken out (its caller runs it alone) and the
// rest run again; otherwise every caller gets the commit's result.
func runBatch(db *bbolt.DB, calls []*batchCall) {
	for len(calls) > 0 {
		failed := -1
		err := db.Update(func(tx *bbolt.Tx) error {
			for i, c := range calls {
				if err := safely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			calls[failed].err <- errTrySolo
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		for _, c := range calls {
			c.err <- err
		}
		return
	}
}

// safely calls fn, turning a panic into an error (the caller then runs fn
// again alone, and the panic is raised in its own goroutine).
func safely(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltstore: batch function panicked: %v", p)
		}
	}()
	return fn(tx)
}
