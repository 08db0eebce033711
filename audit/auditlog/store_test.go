package auditlog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"

	"github.com/agentid/agentid/audit"
)

// TestAppendUnavailable: when the store cannot commit (here it is closed),
// Append fails with an error wrapping audit.ErrUnavailable and the store's own
// error, for a lone caller and for callers committed as one lot.
func TestAppendUnavailable(t *testing.T) {
	db := openDB(t, true)
	l, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(t.Context(), &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow}); err != nil {
		t.Fatalf("Append on an open store: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ev := &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow, Subject: "did:key:a"}
	err = l.Append(t.Context(), ev)
	if !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Append on a closed store: %v, want ErrUnavailable", err)
	}
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append on a closed store: %v, want the store's ErrClosed kept in the chain", err)
	}
	if !strings.HasPrefix(err.Error(), "audit: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	if errors.Is(err, audit.ErrInvalidEvent) || errors.Is(err, audit.ErrCorrupt) {
		t.Errorf("Append on a closed store: %v also claims a bad event or a broken chain", err)
	}
	if ev.Seq != 0 || ev.Hash != "" {
		t.Errorf("a failed Append filled in the event: seq %d hash %q", ev.Seq, ev.Hash)
	}

	// Concurrent callers, which the writer may commit together.
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			errs[i] = l.Append(t.Context(), &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, audit.ErrUnavailable) {
			t.Errorf("concurrent Append %d on a closed store: %v, want ErrUnavailable", i, err)
		}
	}
}

// failingStore is a store whose read-write transactions fail.
type failingStore struct {
	store.Store
	err error
}

func (f failingStore) Update(context.Context, func(store.Tx) error) error { return f.err }
func (f failingStore) Batch(context.Context, func(store.Tx) error) error  { return f.err }

// TestAppendUnavailableAnyStoreError: any failure of the store itself (not
// only a closed one) is reported as audit.ErrUnavailable, with its cause.
func TestAppendUnavailableAnyStoreError(t *testing.T) {
	errDisk := errors.New("disk on fire")
	l, err := Open(failingStore{Store: openDB(t, true), err: errDisk}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Append(t.Context(), &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow})
	if !errors.Is(err, audit.ErrUnavailable) || !errors.Is(err, errDisk) {
		t.Fatalf("Append: %v, want ErrUnavailable wrapping the store's error", err)
	}
}

// TestDeletedLog replaces the old "audit bucket missing" check. Through the
// store seam a bucket nobody wrote to is simply empty, so Open no longer
// creates the audit bucket and an absent one cannot be told from a fresh
// log: a log whose bucket was deleted (or emptied of every key, head
// included) reads as an empty, intact log and starts again at seq 1. Only
// a copy of Head kept outside the database reveals that (see Log.Head).
// A deletion that leaves the chain head behind is still detected.
func TestDeletedLog(t *testing.T) {
	wipes := []struct {
		name string
		wipe func(t *testing.T, db *boltstore.Store) *boltstore.Store
	}{
		{"bucket deleted in the bbolt file", func(t *testing.T, db *boltstore.Store) *boltstore.Store {
			path := db.Path()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := raw.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte(bucketName)) }); err != nil {
				t.Fatal(err)
			}
			if err := raw.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = boltstore.Open(path, &boltstore.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{"every key deleted through the store", func(t *testing.T, db *boltstore.Store) *boltstore.Store {
			bucketDo(t, db, func(b store.Bucket) error {
				var keys [][]byte
				if err := b.Range(nil, func(k, _ []byte) error { keys = append(keys, slices.Clone(k)); return nil }); err != nil {
					return err
				}
				for _, k := range keys {
					if err := b.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
			return db
		}},
	}
	for _, w := range wipes {
		t.Run(w.name, func(t *testing.T) {
			l, db := newLog(t)
			seed(t, l, 3)
			db = w.wipe(t, db)
			l, err := Open(db, &Options{Now: newClock(t0).Now})
			if err != nil {
				t.Fatal(err)
			}
			seq, hash, err := l.Head(t.Context())
			if err != nil || seq != 0 || hash != audit.GenesisPrev {
				t.Errorf("Head = %d, %s, %v; want 0, GenesisPrev, nil", seq, hash, err)
			}
			rep, err := l.Verify(t.Context())
			if err != nil || !rep.OK() || rep.Events != 0 {
				t.Errorf("Verify = %+v, %v; want an intact empty log", rep, err)
			}
			if seqs := collect(t, l, audit.Filter{}); len(seqs) != 0 {
				t.Errorf("events %v after the wipe", seqs)
			}
			ev := &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow}
			if err := l.Append(t.Context(), ev); err != nil || ev.Seq != 1 || ev.Prev != audit.GenesisPrev {
				t.Errorf("Append after the wipe: seq %d prev %s, %v; want a new chain at 1", ev.Seq, ev.Prev, err)
			}
		})
	}

	t.Run("events deleted, head left", func(t *testing.T) {
		l, db := newLog(t)
		seed(t, l, 3)
		bucketDo(t, db, func(b store.Bucket) error {
			for s := uint64(1); s <= 3; s++ {
				if err := b.Delete(seqKey(s)); err != nil {
					return err
				}
			}
			return nil
		})
		if seq, _, err := l.Head(t.Context()); err != nil || seq != 3 {
			t.Errorf("Head = %d, %v; want the left-over head 3", seq, err)
		}
		rep, err := l.Verify(t.Context())
		mustBeCorrupt(t, err)
		if got := chainErrors(rep); !slices.Equal(got, []string{"1:removed"}) {
			t.Fatalf("errors %v, want [1:removed]", got)
		}
	})
}
