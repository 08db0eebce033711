// Package boltstore is the embedded implementation of the store seam: one
// bbolt file, every read-write transaction fsynced before it returns, and
// concurrent Batch callers sharing a commit.
//
//	st, err := boltstore.Open("data/agentid.db", nil)
//	if err != nil { … }
//	defer st.Close()
//
// A second process opening the same file fails after Options.Timeout
// rather than waiting: bbolt locks its file, so one `agentid serve` owns a
// data directory at a time.
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"

	"github.com/agentid/agentid/internal/gather"
	"github.com/agentid/agentid/store"
)

// Options configure Open. The zero value (or nil) is usable.
type Options struct {
	// Timeout bounds the wait for the file lock (1 s by default).
	Timeout time.Duration
	// MaxBatchDelay, if set, is how long each Batch commit waits to
	// gather more callers. By default (0) it waits for none: the callers
	// that arrive while a commit is in flight share the next one, and a
	// lone caller commits at once.
	MaxBatchDelay time.Duration
	// ReadOnly opens the file read-only (no writer lock is taken).
	ReadOnly bool
	// NoSync skips fsync on commit. It is for tests only: a crash then
	// loses acknowledged commits.
	NoSync bool
}

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("boltstore: the database is in use by another process")

// ErrDamaged is returned by Open and Validate for a file that is not a
// whole, structurally sound bbolt database: no valid meta page, shorter
// than its meta page says (truncated), or a reachable page that bbolt
// would misread (see Validate). Open never opens such a file, so that
// bbolt cannot fault, panic or read garbage on it.
var ErrDamaged = errors.New("boltstore: the database file is damaged")

// ErrEmpty is returned by Validate for a file of 0 bytes: bbolt would
// silently make it a new, empty database.
var ErrEmpty = errors.New("boltstore: the database file is empty")

// Store is a store.Store over one bbolt file.
type Store struct {
	db *bbolt.DB

	// The group commit of Batch (batch.go).
	// batches is Batch's group commit (batch.go).
	batches gather.Gatherer[*batchCall]
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed, mode 0600) the bbolt file at path.
//
// Commits are fsynced. The freelist is not written on every commit
// (bbolt rebuilds it by scanning the file at open, as etcd does): at
// thousands of small commits a second writing it was a large share of
// each commit, and the price is a slower open of a large file.
//
// An existing file is checked first (Validate): a damaged one is refused
// with an error wrapping ErrDamaged, and a fault or panic inside bbolt
// while opening becomes such an error too. A 0-byte file is initialised,
// as bbolt does; callers that must not create a database check Validate
// for ErrEmpty first.
func Open(path string, opts *Options) (st *Store, err error) {
	if err := Validate(path); err != nil && !errors.Is(err, ErrEmpty) && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// A damaged file bbolt does not detect may fault on its mmap: make a
	// fault a panic, and a panic an error, while it opens.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("%w: %s: bbolt failed to open it: %v", ErrDamaged, path, r)
		}
	}()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        o.Timeout,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		ReadOnly:       o.ReadOnly,
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db.NoSync = o.NoSync
	s := &Store{db: db}
	s.batches = gather.Gatherer[*batchCall]{Run: func(calls []*batchCall) { runBatch(db, calls) }, Max: maxBatch, Delay: o.MaxBatchDelay}
	return s, nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.run(s.db.View, fn)
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.run(s.db.Update, fn)
}

// Batch implements store.Store with a group commit (see batch.go).
func (s *Store) Batch(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.run(s.batch, fn)
}

// run runs fn through one of bbolt's transaction entry points. An error fn
// returned comes back unchanged; an error of bbolt's own (opening,
// committing, syncing the transaction) is mapped to the seam's sentinels.
func (s *Store) run(do func(func(*bbolt.Tx) error) error, fn func(store.Tx) error) error {
	var fnErr error
	err := do(func(tx *bbolt.Tx) error {
		fnErr = fn(&txn{tx: tx})
		return fnErr
	})
	if err == nil || err == fnErr {
		return err
	}
	return mapErr(err)
}

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

// mapErr maps an error of bbolt's own (not fn's) to the seam's sentinels.
// Once fn has returned nil, what is left to fail in a read-write
// transaction is writing it out: growing the file, writing pages, syncing
// (ENOSPC, EDQUOT, EFBIG, EROFS, EIO). bbolt does not always keep the errno
// in the chain (a failed resize is formatted with %s), so every such error
// but bbolt's state errors is a storage failure.
func mapErr(err error) error {
	switch {
	case errors.Is(err, bbolt.ErrDatabaseNotOpen):
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	case errors.Is(err, bbolt.ErrDatabaseReadOnly), errors.Is(err, bbolt.ErrTxClosed), errors.Is(err, bbolt.ErrTxNotWritable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

type txn struct {
	tx *bbolt.Tx
}

func (t *txn) Writable() bool     { return t.tx.Writable() }
func (t *txn) OnCommit(fn func()) { t.tx.OnCommit(fn) }

func (t *txn) Bucket(name string) store.Bucket {
	if b := t.tx.Bucket([]byte(name)); b != nil {
		return &bucket{b: b}
	}
	if !t.tx.Writable() {
		return empty{}
	}
	b, err := t.tx.CreateBucket([]byte(name))
	if err != nil {
		return failed{err: fmt.Errorf("boltstore: create bucket %q: %w", name, err)}
	}
	return &bucket{b: b}
}

type bucket struct {
	b *bbolt.Bucket
}

func (b *bucket) Get(key []byte) []byte { return b.b.Get(key) }

func (b *bucket) Put(key, value []byte) error {
	if !b.b.Tx().Writable() {
		return store.ErrReadOnly
	}
	if value == nil {
		value = []byte{}
	}
	return b.b.Put(key, value)
}

func (b *bucket) Delete(key []byte) error {
	if !b.b.Tx().Writable() {
		return store.ErrReadOnly
	}
	return b.b.Delete(key)
}

func (b *bucket) Range(from []byte, fn func(k, v []byte) error) error {
	c := b.b.Cursor()
	var k, v []byte
	if from == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	for ; k != nil; k, v = c.Next() {
		if v == nil {
			continue // a nested bucket; the seam has none
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, store.Stop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Sequential packs pages for ascending appends: pages are filled rather
// than split in half, which halves the pages a commit writes.
func (b *bucket) Sequential() { b.b.FillPercent = 0.95 }

// empty is an absent bucket in a read-only transaction.
type empty struct{}

func (empty) Get([]byte) []byte                           { return nil }
func (empty) Put(_, _ []byte) error                       { return store.ErrReadOnly }
func (empty) Delete([]byte) error                         { return store.ErrReadOnly }
func (empty) Range([]byte, func(k, v []byte) error) error { return nil }

// failed is a bucket that could not be created; every write fails.
type failed struct{ err error }

func (f failed) Get([]byte) []byte                           { return nil }
func (f failed) Put(_, _ []byte) error                       { return f.err }
func (f failed) Delete([]byte) error                         { return f.err }
func (f failed) Range([]byte, func(k, v []byte) error) error { return f.err }
