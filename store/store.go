// Package store is the storage seam of the issuer side of agentid: the
// issuer's principals and inventory, the keystore, the status-list
// allocation state and the audit log all keep their state through it, so
// that the embedded bbolt file and a shared database are two
// implementations of one small interface.
//
// The unit is the transaction. Every operation the issuer acknowledges is
// one read-write transaction that holds the state change, its status-list
// allocation and its audit event together, and that is durable when
// Update or Batch returns nil. Inside a transaction the data is a set of
// named buckets of ordered byte keys and byte values:
//
//	err := st.Update(ctx, func(tx store.Tx) error {
//		b := tx.Bucket("issuer.agents")
//		if b.Get(key) != nil {
//			return errExists // rolls the whole transaction back
//		}
//		return b.Put(key, value)
//	})
//
// # Implementations
//
// [go.etcd.io/bbolt] in package boltstore is the embedded default.
//
// # Caveats
//
// Values returned by Get, and the keys and values handed to Range, are
// valid only until the transaction ends; copy what must outlive it. A
// function given to Batch may run more than once, so it must have no
// effect outside the transaction other than through Tx.OnCommit. Never
// open a second transaction from inside one: whatever a transaction needs
// (a signing key, say) is obtained before it starts or read through it.
//
// # Errors
//
// A transaction that could not be made durable because the storage under
// the store failed (a full disk, an I/O error, a read-only or over-quota
// file system) fails with an error wrapping [ErrUnavailable], its cause
// (ENOSPC, say) kept beside it, so that callers tell
// "try again later" from a refusal or a bug with errors.Is. Nothing of
// such a transaction was committed.
package store

import (
	"context"
	"errors"
)

// Store opens transactions. A context that is already done makes View,
// Update and Batch return its error without running fn.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction. It commits, durably,
	// when fn returns nil and rolls back when fn returns an error, which
	// Update then returns unchanged (so that errors.As sees the caller's
	// own error types).
	Update(ctx context.Context, fn func(Tx) error) error
	// Batch is Update for many concurrent callers: functions called
	// together may share one commit, and so one fsync. If one function of
	// a shared commit fails, the others run again; fn must therefore be
	// safe to run more than once.
	Batch(ctx context.Context, fn func(Tx) error) error
	// Close releases the store. Transactions must have ended.
	Close() error
}

// Tx is one transaction.
type Tx interface {
	// Bucket returns the named bucket. Buckets need not be created: a
	// bucket nobody wrote to is empty.
	Bucket(name string) Bucket
	// Writable reports whether this is a read-write transaction.
	Writable() bool
	// OnCommit registers fn to run after the transaction has committed
	// durably, before Update or Batch returns; it never runs for a
	// transaction that rolls back.
	OnCommit(fn func())
}

// Bucket is an ordered map of byte keys to byte values.
type Bucket interface {
	// Get returns the value of key, or nil if there is none.
	Get(key []byte) []byte
	// Put sets the value of key. A key is 1 to MaxKeySize bytes; a value
	// may be empty. The store may keep key and value until the
	// transaction ends: the caller must not modify them before.
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
	// Range calls fn for each key >= from (every key when from is nil) in
	// ascending byte order, until fn returns an error. Returning Stop ends
	// the walk early and Range then returns nil; any other error is
	// returned as it is. fn must not write to the bucket.
	Range(from []byte, fn func(key, value []byte) error) error
}

// Sequential is implemented by buckets that can be told their keys are
// appended in ascending order (an audit log), so that an implementation
// may pack them more densely. It is a hint; callers check for it with a
// type assertion.
type Sequential interface {
	Sequential()
}

// MaxKeySize is the largest key every implementation accepts.
const MaxKeySize = 32 << 10

// Stop ends a Range early without an error.
var Stop = errors.New("store: stop")

// ErrReadOnly is returned by writes in a read-only transaction.
var ErrReadOnly = errors.New("store: read-only transaction")

// ErrUnavailable is wrapped by the error of a transaction that failed
// because the storage failed underneath (ENOSPC, EIO, EDQUOT, EROFS, EFBIG):
// the transaction did not commit, and a later one may succeed once the
// operator has freed space or repaired the device. The cause stays in the
// error chain.
var ErrUnavailable = errors.New("store: storage unavailable")

// ErrClosed is returned once the store is closed.
var ErrClosed = errors.New("store: closed")

// Announcer is implemented by the transactions of a store that several
// processes share (a database several replicas use): Announce queues a
// message on topic that every other process sharing the store receives
// once the transaction has committed, and never if it rolls back. It is
// how a change made by one replica reaches the caches and change feeds of
// the others. Callers check for it with a type assertion; a store of one
// process has no one to announce to.
type Announcer interface {
	Announce(topic, payload string)
}
