// Package storetest is the conformance suite of the store seam: every
// implementation of [store.Store] runs the same subtests, so that the
// embedded bbolt file and a shared database behave alike for the issuer.
//
// An implementation calls [Run] from one of its own tests, with a function
// that opens a new, empty store for each subtest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			st, err := mystore.Open(filepath.Join(t.TempDir(), "db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return st
//		})
//	}
//
// An implementation whose data outlives the Store value also passes
// [Options.Reopen] to [RunOptions], so that the suite can check that what
// Update and Batch acknowledged is still there after Close and a new open.
//
// The suite closes every store it is given, once, when the subtest that
// opened it ends (Close is also called by the subtest that checks the
// closed state); open should register with t.Cleanup whatever else must be
// released, such as a temporary directory or a database schema. Subtests
// run one after the other, never in parallel, and each expects the store
// it opens to be empty.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/agentid/agentid/store"
)

// Options configure [RunOptions].
type Options struct {
	// Open returns a new, empty store. Required.
	Open func(t *testing.T) store.Store
	// Reopen, if set, is given a store the suite has just closed and
	// returns a new store over the same data (for a file, the same path).
	// Without it the durability subtest is skipped.
	Reopen func(t *testing.T, closed store.Store) store.Store
}

// Run runs the conformance suite on the stores open returns. The
// durability subtest is skipped; use [RunOptions] to run it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	RunOptions(t, Options{Open: open})
}

// RunOptions runs the conformance suite as configured by o.
func RunOptions(t *testing.T, o Options) {
	t.Helper()
	if o.Open == nil {
		t.Fatal("storetest: Options.Open is nil")
	}
	s := &suite{o: o}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"PutGetDelete", s.testPutGetDelete},
		{"BucketsAreIndependent", s.testBucketsAreIndependent},
		{"EmptyValue", s.testEmptyValue},
		{"MaxKeySize", s.testMaxKeySize},
		{"Writable", s.testWritable},
		{"AbsentBucketInView", s.testAbsentBucketInView},
		{"WriteInViewIsReadOnly", s.testWriteInViewIsReadOnly},
		{"ReadYourWritesInTx", s.testReadYourWritesInTx},
		{"UpdateErrorRollsBack", s.testUpdateErrorRollsBack},
		{"OnCommit", s.testOnCommit},
		{"RangeByteOrder", s.testRangeByteOrder},
		{"RangeFrom", s.testRangeFrom},
		{"RangeStop", s.testRangeStop},
		{"RangeError", s.testRangeError},
		{"ValuesValidUntilTxEnds", s.testValuesValidUntilTxEnds},
		{"BatchConcurrent", s.testBatchConcurrent},
		{"BatchFailureIsolated", s.testBatchFailureIsolated},
		{"CancelledContext", s.testCancelledContext},
		{"Closed", s.testClosed},
		{"Durable", s.testDurable},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	o Options
}

// handle is a store under test, closed when the subtest ends unless the
// subtest closed it itself.
type handle struct {
	store.Store
	closed bool
}

func (s *suite) open(t *testing.T) *handle {
	t.Helper()
	st := s.o.Open(t)
	if st == nil {
		t.Fatal("storetest: Open returned a nil store")
	}
	h := &handle{Store: st}
	t.Cleanup(func() {
		if !h.closed {
			if err := h.Store.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return h
}

// close closes h, which must succeed.
func (h *handle) close(t *testing.T) {
	t.Helper()
	h.closed = true
	if err := h.Store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func update(t *testing.T, st store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, st store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := st.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// put writes key=value pairs (alternating strings) into bucket in one Update.
func put(t *testing.T, st store.Store, bucket string, kv ...string) {
	t.Helper()
	update(t, st, func(tx store.Tx) error {
		b := tx.Bucket(bucket)
		for i := 0; i+1 < len(kv); i += 2 {
			if err := b.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return fmt.Errorf("Put(%q): %w", kv[i], err)
			}
		}
		return nil
	})
}

// kv is one key and value, copied out of a transaction.
type kv struct{ k, v string }

// dump returns the content of bucket, in Range order, read in a View.
func dump(t *testing.T, st store.Store, bucket string) []kv {
	t.Helper()
	var out []kv
	view(t, st, func(tx store.Tx) error {
		out = rangeAll(tx.Bucket(bucket), nil)
		return nil
	})
	return out
}

func rangeAll(b store.Bucket, from []byte) []kv {
	var out []kv
	_ = b.Range(from, func(k, v []byte) error {
		out = append(out, kv{string(k), string(v)})
		return nil
	})
	return out
}

func pairs(kvs ...string) []kv {
	var out []kv
	for i := 0; i+1 < len(kvs); i += 2 {
		out = append(out, kv{kvs[i], kvs[i+1]})
	}
	return out
}

func equal(a, b []kv) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantBucket(t *testing.T, st store.Store, bucket string, want []kv) {
	t.Helper()
	if got := dump(t, st, bucket); !equal(got, want) {
		t.Errorf("bucket %q holds %q, want %q", bucket, got, want)
	}
}

// get reads one key in a View; ok reports whether it is present.
func get(t *testing.T, st store.Store, bucket, key string) (value string, ok bool) {
	t.Helper()
	view(t, st, func(tx store.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(key))
		value, ok = string(v), v != nil
		return nil
	})
	return value, ok
}

func (s *suite) testPutGetDelete(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "k1", "v1", "k2", "v2")
	if v, ok := get(t, st, "b", "k1"); !ok || v != "v1" {
		t.Errorf("Get(k1) = %q, %v; want \"v1\", true", v, ok)
	}
	if v, ok := get(t, st, "b", "absent"); ok {
		t.Errorf("Get(absent) = %q; want nil", v)
	}

	put(t, st, "b", "k1", "v1bis") // overwrite
	if v, _ := get(t, st, "b", "k1"); v != "v1bis" {
		t.Errorf("Get(k1) after overwrite = %q; want \"v1bis\"", v)
	}

	update(t, st, func(tx store.Tx) error {
		b := tx.Bucket("b")
		if err := b.Delete([]byte("k1")); err != nil {
			return fmt.Errorf("Delete(k1): %w", err)
		}
		if err := b.Delete([]byte("never-written")); err != nil {
			return fmt.Errorf("Delete of an absent key: %w", err)
		}
		if err := tx.Bucket("never-written").Delete([]byte("k")); err != nil {
			return fmt.Errorf("Delete in an absent bucket: %w", err)
		}
		return nil
	})
	if v, ok := get(t, st, "b", "k1"); ok {
		t.Errorf("Get(k1) after Delete = %q; want nil", v)
	}
	wantBucket(t, st, "b", pairs("k2", "v2"))
}

func (s *suite) testBucketsAreIndependent(t *testing.T) {
	st := s.open(t)
	put(t, st, "issuer.agents", "k", "agents")
	put(t, st, "issuer.principals", "k", "principals")
	update(t, st, func(tx store.Tx) error { return tx.Bucket("issuer.principals").Delete([]byte("k")) })
	wantBucket(t, st, "issuer.agents", pairs("k", "agents"))
	wantBucket(t, st, "issuer.principals", nil)
	// A bucket whose name is a prefix of another's is distinct too.
	wantBucket(t, st, "issuer", nil)
}

func (s *suite) testEmptyValue(t *testing.T) {
	st := s.open(t)
	check := func(where string, b store.Bucket) {
		t.Helper()
		for _, k := range []string{"empty", "nil"} {
			if v := b.Get([]byte(k)); v == nil || len(v) != 0 {
				t.Errorf("%s: Get(%q) = %#v; want a non-nil empty value", where, k, v)
			}
		}
		if got, want := rangeAll(b, nil), pairs("empty", "", "nil", ""); !equal(got, want) {
			t.Errorf("%s: Range = %q; want %q", where, got, want)
		}
	}
	update(t, st, func(tx store.Tx) error {
		b := tx.Bucket("b")
		if err := b.Put([]byte("empty"), []byte{}); err != nil {
			return err
		}
		if err := b.Put([]byte("nil"), nil); err != nil {
			return err
		}
		check("same transaction", b)
		return nil
	})
	view(t, st, func(tx store.Tx) error {
		check("after commit", tx.Bucket("b"))
		return nil
	})
}

func (s *suite) testMaxKeySize(t *testing.T) {
	st := s.open(t)
	key := bytes.Repeat([]byte{0xa5}, store.MaxKeySize)
	key[len(key)-1] = 0x00
	update(t, st, func(tx store.Tx) error {
		if err := tx.Bucket("b").Put(key, []byte("v")); err != nil {
			return fmt.Errorf("Put of a %d-byte key: %w", len(key), err)
		}
		return tx.Bucket("b").Put([]byte{0}, []byte("one byte"))
	})
	view(t, st, func(tx store.Tx) error {
		if v := tx.Bucket("b").Get(key); string(v) != "v" {
			t.Errorf("Get of the %d-byte key = %q; want \"v\"", len(key), v)
		}
		if v := tx.Bucket("b").Get([]byte{0}); string(v) != "one byte" {
			t.Errorf("Get of the 1-byte key = %q; want \"one byte\"", v)
		}
		return nil
	})
}

func (s *suite) testWritable(t *testing.T) {
	st := s.open(t)
	var inView, inUpdate, inBatch bool
	view(t, st, func(tx store.Tx) error { inView = tx.Writable(); return nil })
	update(t, st, func(tx store.Tx) error { inUpdate = tx.Writable(); return nil })
	if err := st.Batch(context.Background(), func(tx store.Tx) error { inBatch = tx.Writable(); return nil }); err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if inView || !inUpdate || !inBatch {
		t.Errorf("Writable() in View, Update, Batch = %v, %v, %v; want false, true, true", inView, inUpdate, inBatch)
	}
}

func (s *suite) testAbsentBucketInView(t *testing.T) {
	st := s.open(t)
	view(t, st, func(tx store.Tx) error {
		b := tx.Bucket("absent")
		if b == nil {
			return errors.New("Bucket(absent) = nil; want an empty bucket")
		}
		if v := b.Get([]byte("k")); v != nil {
			t.Errorf("Get = %q; want nil", v)
		}
		calls := 0
		if err := b.Range(nil, func(k, v []byte) error { calls++; return nil }); err != nil {
			t.Errorf("Range: %v", err)
		}
		if calls != 0 {
			t.Errorf("Range called fn %d times; want 0", calls)
		}
		if err := b.Put([]byte("k"), []byte("v")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Put = %v; want ErrReadOnly", err)
		}
		if err := b.Delete([]byte("k")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Delete = %v; want ErrReadOnly", err)
		}
		return nil
	})
	// The failed writes created nothing.
	wantBucket(t, st, "absent", nil)
}

func (s *suite) testWriteInViewIsReadOnly(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "k", "v")
	view(t, st, func(tx store.Tx) error {
		b := tx.Bucket("b")
		if err := b.Put([]byte("k"), []byte("changed")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Put of an existing key = %v; want ErrReadOnly", err)
		}
		if err := b.Put([]byte("new"), []byte("v")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Put of a new key = %v; want ErrReadOnly", err)
		}
		if err := b.Delete([]byte("k")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Delete = %v; want ErrReadOnly", err)
		}
		if v := b.Get([]byte("k")); string(v) != "v" {
			t.Errorf("Get after the refused writes = %q; want \"v\"", v)
		}
		return nil
	})
	wantBucket(t, st, "b", pairs("k", "v"))
}

func (s *suite) testReadYourWritesInTx(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "old", "1", "gone", "2")
	update(t, st, func(tx store.Tx) error {
		b := tx.Bucket("b")
		if err := b.Put([]byte("new"), []byte("3")); err != nil {
			return err
		}
		if err := b.Put([]byte("old"), []byte("1bis")); err != nil {
			return err
		}
		if err := b.Delete([]byte("gone")); err != nil {
			return err
		}
		if v := b.Get([]byte("new")); string(v) != "3" {
			t.Errorf("Get(new) in the writing tx = %q; want \"3\"", v)
		}
		if v := b.Get([]byte("old")); string(v) != "1bis" {
			t.Errorf("Get(old) in the writing tx = %q; want \"1bis\"", v)
		}
		if v := b.Get([]byte("gone")); v != nil {
			t.Errorf("Get(gone) in the deleting tx = %q; want nil", v)
		}
		// A second Bucket value for the same name sees the same writes.
		if got, want := rangeAll(tx.Bucket("b"), nil), pairs("new", "3", "old", "1bis"); !equal(got, want) {
			t.Errorf("Range in the writing tx = %q; want %q", got, want)
		}
		// A bucket created in this transaction is readable in it.
		if err := tx.Bucket("fresh").Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		if v := tx.Bucket("fresh").Get([]byte("k")); string(v) != "v" {
			t.Errorf("Get in a bucket created by this tx = %q; want \"v\"", v)
		}
		return nil
	})
}

// txError is a caller's own error type, which Update must return as it is.
type txError struct{ code int }

func (e *txError) Error() string { return "storetest: tx error " + strconv.Itoa(e.code) }

func (s *suite) testUpdateErrorRollsBack(t *testing.T) {
	st := s.open(t)
	put(t, st, "a", "keep", "1", "doomed", "2")
	put(t, st, "b", "x", "1")
	mine := &txError{code: 42}
	ran := false
	err := st.Update(context.Background(), func(tx store.Tx) error {
		ran = true
		a, b, c := tx.Bucket("a"), tx.Bucket("b"), tx.Bucket("c")
		for _, w := range []error{
			a.Put([]byte("keep"), []byte("changed")),
			a.Put([]byte("added"), []byte("3")),
			a.Delete([]byte("doomed")),
			b.Put([]byte("y"), []byte("2")),
			b.Delete([]byte("x")),
			c.Put([]byte("z"), []byte("3")), // c did not exist
		} {
			if w != nil {
				t.Errorf("write in the doomed tx: %v", w)
			}
		}
		return mine
	})
	if !ran {
		t.Fatal("Update did not run fn")
	}
	var te *txError
	if !errors.As(err, &te) || te != mine {
		t.Errorf("Update = %v (%T); want the caller's *txError", err, err)
	}
	if err != error(mine) {
		t.Errorf("Update = %#v; want the caller's error unchanged", err)
	}
	wantBucket(t, st, "a", pairs("doomed", "2", "keep", "1"))
	wantBucket(t, st, "b", pairs("x", "1"))
	wantBucket(t, st, "c", nil)

	// Batch too returns the caller's error unchanged and keeps nothing.
	mine2 := &txError{code: 7}
	err = st.Batch(context.Background(), func(tx store.Tx) error {
		if err := tx.Bucket("a").Put([]byte("batch"), []byte("1")); err != nil {
			return err
		}
		return mine2
	})
	if err != error(mine2) {
		t.Errorf("Batch = %#v; want the caller's error unchanged", err)
	}
	wantBucket(t, st, "a", pairs("doomed", "2", "keep", "1"))
}

func (s *suite) testOnCommit(t *testing.T) {
	st := s.open(t)
	ctx := context.Background()

	t.Run("Update", func(t *testing.T) {
		var fnDone bool
		var order []string
		err := st.Update(ctx, func(tx store.Tx) error {
			tx.OnCommit(func() {
				if !fnDone {
					t.Error("OnCommit ran before fn returned")
				}
				order = append(order, "first")
			})
			tx.OnCommit(func() { order = append(order, "second") })
			if len(order) != 0 {
				t.Error("OnCommit ran at registration")
			}
			fnDone = true
			return tx.Bucket("b").Put([]byte("k"), []byte("v"))
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if len(order) != 2 || order[0] != "first" || order[1] != "second" {
			t.Errorf("OnCommit functions ran as %q by the time Update returned; want [first second]", order)
		}
		if v, _ := get(t, st, "b", "k"); v != "v" {
			t.Errorf("Get after commit = %q; want \"v\"", v)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		n := 0
		err := st.Batch(ctx, func(tx store.Tx) error {
			tx.OnCommit(func() { n++ })
			return tx.Bucket("b").Put([]byte("batch"), []byte("v"))
		})
		if err != nil {
			t.Fatalf("Batch: %v", err)
		}
		if n != 1 {
			t.Errorf("OnCommit ran %d times for one acknowledged Batch; want 1", n)
		}
	})

	t.Run("NotAfterRollback", func(t *testing.T) {
		ran := false
		mine := errors.New("roll back")
		for _, call := range []func(context.Context, func(store.Tx) error) error{st.Update, st.Batch} {
			err := call(ctx, func(tx store.Tx) error {
				tx.OnCommit(func() { ran = true })
				if err := tx.Bucket("b").Put([]byte("rolled"), []byte("v")); err != nil {
					return err
				}
				return mine
			})
			if err != mine {
				t.Errorf("got %v; want the caller's error", err)
			}
		}
		// Commit something afterwards: handlers of rolled-back
		// transactions must not leak into a later commit.
		update(t, st, func(tx store.Tx) error { return tx.Bucket("b").Put([]byte("later"), []byte("v")) })
		if ran {
			t.Error("OnCommit ran for a transaction that rolled back")
		}
		if v, ok := get(t, st, "b", "rolled"); ok {
			t.Errorf("a rolled-back write is visible: %q", v)
		}
	})
}

func (s *suite) testRangeByteOrder(t *testing.T) {
	st := s.open(t)
	// Inserted out of order; byte order is not a locale collation ("B" <
	// "a"), a prefix sorts first, and 0x00 and 0xff are ordinary bytes.
	keys := []string{"b", "\xff", "a\x00", "B", "ab", "a", "\x00", "\x00\x00", "a\xff", "aa", "\x7f", "\x80"}
	update(t, st, func(tx store.Tx) error {
		for i, k := range keys {
			if err := tx.Bucket("b").Put([]byte(k), []byte(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	})
	want := []string{"\x00", "\x00\x00", "B", "a", "a\x00", "aa", "ab", "a\xff", "b", "\x7f", "\x80", "\xff"}
	got := dump(t, st, "b")
	var gotKeys []string
	for _, p := range got {
		gotKeys = append(gotKeys, p.k)
	}
	if fmt.Sprintf("%q", gotKeys) != fmt.Sprintf("%q", want) {
		t.Errorf("Range order = %q; want %q", gotKeys, want)
	}
	for _, p := range got {
		var i int
		for j, k := range keys {
			if k == p.k {
				i = j
			}
		}
		if p.v != strconv.Itoa(i) {
			t.Errorf("Range gave %q = %q; want %q", p.k, p.v, strconv.Itoa(i))
		}
	}
}

func (s *suite) testRangeFrom(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "k1", "1", "k3", "3", "k5", "5")
	put(t, st, "other", "k0", "0", "k9", "9") // must not leak into "b"
	for _, tc := range []struct {
		name string
		from []byte
		want []kv
	}{
		{"nil", nil, pairs("k1", "1", "k3", "3", "k5", "5")},
		{"empty", []byte{}, pairs("k1", "1", "k3", "3", "k5", "5")},
		{"present", []byte("k3"), pairs("k3", "3", "k5", "5")},
		{"between", []byte("k2"), pairs("k3", "3", "k5", "5")},
		{"prefix", []byte("k"), pairs("k1", "1", "k3", "3", "k5", "5")},
		{"last", []byte("k5"), pairs("k5", "5")},
		{"past the end", []byte("k5\x00"), nil},
	} {
		view(t, st, func(tx store.Tx) error {
			if got := rangeAll(tx.Bucket("b"), tc.from); !equal(got, tc.want) {
				t.Errorf("Range from %s (%q) = %q; want %q", tc.name, tc.from, got, tc.want)
			}
			return nil
		})
	}
}

func (s *suite) testRangeStop(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "a", "1", "b", "2", "c", "3", "d", "4")
	view(t, st, func(tx store.Tx) error {
		var seen []string
		err := tx.Bucket("b").Range(nil, func(k, v []byte) error {
			seen = append(seen, string(k))
			if string(k) == "b" {
				return store.Stop
			}
			return nil
		})
		if err != nil {
			t.Errorf("Range ended by Stop = %v; want nil", err)
		}
		if fmt.Sprint(seen) != "[a b]" {
			t.Errorf("Range visited %q; want [a b] (nothing after Stop)", seen)
		}
		return nil
	})
}

func (s *suite) testRangeError(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "a", "1", "b", "2", "c", "3")
	mine := &txError{code: 3}
	var seen []string
	err := st.View(context.Background(), func(tx store.Tx) error {
		err := tx.Bucket("b").Range([]byte("a"), func(k, v []byte) error {
			seen = append(seen, string(k))
			if string(k) == "b" {
				return mine
			}
			return nil
		})
		if err != error(mine) {
			t.Errorf("Range = %#v; want fn's error unchanged", err)
		}
		return err
	})
	if fmt.Sprint(seen) != "[a b]" {
		t.Errorf("Range visited %q; want [a b] (nothing after the error)", seen)
	}
	var te *txError
	if !errors.As(err, &te) || te != mine {
		t.Errorf("View = %v; want the error of fn", err)
	}
}

func (s *suite) testValuesValidUntilTxEnds(t *testing.T) {
	st := s.open(t)
	update(t, st, func(tx store.Tx) error {
		b := tx.Bucket("b")
		for i := range 64 {
			k := fmt.Sprintf("k%02d", i)
			if err := b.Put([]byte(k), bytes.Repeat([]byte{byte(i)}, 100+i)); err != nil {
				return err
			}
		}
		return nil
	})
	wantValue := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i) }

	var copied [][]byte
	view(t, st, func(tx store.Tx) error {
		b := tx.Bucket("b")
		// Slices handed out by Get and Range stay valid for the whole
		// transaction, across later calls: an implementation must not
		// reuse their memory before the transaction ends.
		var held [][]byte
		held = append(held, b.Get([]byte("k00")))
		if err := b.Range(nil, func(k, v []byte) error {
			held = append(held, k, v)
			return nil
		}); err != nil {
			return err
		}
		held = append(held, b.Get([]byte("k63")))
		if !bytes.Equal(held[0], wantValue(0)) || !bytes.Equal(held[len(held)-1], wantValue(63)) {
			t.Error("a value returned by Get changed before the transaction ended")
		}
		for i := range 64 {
			k, v := held[1+2*i], held[2+2*i]
			if string(k) != fmt.Sprintf("k%02d", i) || !bytes.Equal(v, wantValue(i)) {
				t.Errorf("Range's key/value #%d changed before the transaction ended: %q", i, k)
			}
		}
		for _, h := range held {
			copied = append(copied, bytes.Clone(h))
		}
		return nil
	})

	// Rewrite and grow the data, so that an implementation that maps or
	// buffers it moves it; the copies are unaffected.
	update(t, st, func(tx store.Tx) error {
		b := tx.Bucket("b")
		for i := range 64 {
			if err := b.Put([]byte(fmt.Sprintf("k%02d", i)), bytes.Repeat([]byte{0xee}, 4096)); err != nil {
				return err
			}
		}
		return nil
	})
	if !bytes.Equal(copied[0], wantValue(0)) || !bytes.Equal(copied[len(copied)-1], wantValue(63)) {
		t.Error("a copied value changed after its transaction ended")
	}
	for i := range 64 {
		if !bytes.Equal(copied[2+2*i], wantValue(i)) {
			t.Errorf("copied value #%d changed after its transaction ended", i)
		}
	}
}

func (s *suite) testBatchConcurrent(t *testing.T) {
	st := s.open(t)
	const workers, rounds = 64, 20
	ctx := context.Background()

	incr := func(b store.Bucket, key string) error {
		n := 0
		if v := b.Get([]byte(key)); v != nil {
			var err error
			if n, err = strconv.Atoi(string(v)); err != nil {
				return err
			}
		}
		return b.Put([]byte(key), []byte(strconv.Itoa(n+1)))
	}
	read := func(tx store.Tx, key string) int {
		n, _ := strconv.Atoi(string(tx.Bucket("counters").Get([]byte(key))))
		return n
	}

	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		commits [workers]int // OnCommit runs, per worker
		errs    = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			own := fmt.Sprintf("own/%02d", w)
			for r := range rounds {
				err := st.Batch(ctx, func(tx store.Tx) error {
					tx.OnCommit(func() { commits[w]++ })
					b := tx.Bucket("counters")
					if err := incr(b, "shared"); err != nil {
						return err
					}
					if err := incr(b, own); err != nil {
						return err
					}
					return incr(tx.Bucket(fmt.Sprintf("bucket/%02d", w%4)), "shared")
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: Batch: %w", w, r, err)
					return
				}
				// An acknowledged Batch is visible to the next transaction.
				var got int
				if err := st.View(ctx, func(tx store.Tx) error { got = read(tx, own); return nil }); err != nil {
					errs <- fmt.Errorf("worker %d: View: %w", w, err)
					return
				}
				if got != r+1 {
					errs <- fmt.Errorf("worker %d: after %d acknowledged Batch calls, its counter is %d", w, r+1, got)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	view(t, st, func(tx store.Tx) error {
		if got := read(tx, "shared"); got != workers*rounds {
			t.Errorf("shared counter = %d; want %d (lost updates)", got, workers*rounds)
		}
		for w := range workers {
			if got := read(tx, fmt.Sprintf("own/%02d", w)); got != rounds {
				t.Errorf("counter of worker %d = %d; want %d", w, got, rounds)
			}
		}
		for i := range 4 {
			n, _ := strconv.Atoi(string(tx.Bucket(fmt.Sprintf("bucket/%02d", i)).Get([]byte("shared"))))
			if n != workers/4*rounds {
				t.Errorf("bucket/%02d counter = %d; want %d", i, n, workers/4*rounds)
			}
		}
		return nil
	})
	for w, n := range commits {
		if n != rounds {
			t.Errorf("OnCommit ran %d times for worker %d's %d acknowledged Batch calls", n, w, rounds)
		}
	}
}

func (s *suite) testBatchFailureIsolated(t *testing.T) {
	st := s.open(t)
	const callers, rounds = 16, 5
	ctx := context.Background()
	for r := range rounds {
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results [callers]error
			commits [callers]int
			mines   [callers]*txError
		)
		failing := (r * 5) % callers // first, middle and last positions over the rounds
		for c := range callers {
			mines[c] = &txError{code: c}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[c] = st.Batch(ctx, func(tx store.Tx) error {
					tx.OnCommit(func() { commits[c]++ })
					b := tx.Bucket("b")
					if err := b.Put([]byte(fmt.Sprintf("r%d/c%02d", r, c)), []byte("v")); err != nil {
						return err
					}
					if err := tx.Bucket("other").Put([]byte(fmt.Sprintf("r%d/c%02d", r, c)), []byte("v")); err != nil {
						return err
					}
					if c == failing {
						return mines[c]
					}
					return nil
				})
			}()
		}
		close(start)
		wg.Wait()

		for c := range callers {
			key := fmt.Sprintf("r%d/c%02d", r, c)
			_, inB := get(t, st, "b", key)
			_, inOther := get(t, st, "other", key)
			if c == failing {
				if results[c] != error(mines[c]) {
					t.Errorf("round %d: failing caller got %v; want its own error unchanged", r, results[c])
				}
				if inB || inOther {
					t.Errorf("round %d: the failing caller's writes are visible (b: %v, other: %v)", r, inB, inOther)
				}
				if commits[c] != 0 {
					t.Errorf("round %d: OnCommit ran for the failing caller", r)
				}
				continue
			}
			if results[c] != nil {
				t.Errorf("round %d: caller %d got %v because another caller failed; want nil", r, c, results[c])
			}
			if !inB || !inOther {
				t.Errorf("round %d: caller %d's acknowledged writes are missing (b: %v, other: %v)", r, c, inB, inOther)
			}
			if commits[c] != 1 {
				t.Errorf("round %d: OnCommit ran %d times for caller %d; want 1", r, commits[c], c)
			}
		}
	}
}

func (s *suite) testCancelledContext(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "k", "v")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		call func(context.Context, func(store.Tx) error) error
	}{
		{"View", st.View},
		{"Update", st.Update},
		{"Batch", st.Batch},
	} {
		ran := false
		err := tc.call(ctx, func(tx store.Tx) error {
			ran = true
			if tx.Writable() {
				return tx.Bucket("b").Put([]byte("k"), []byte("cancelled"))
			}
			return nil
		})
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v; want an error that is context.Canceled", tc.name, err)
		}
		if ran {
			t.Errorf("%s with a cancelled context ran fn", tc.name)
		}
	}
	wantBucket(t, st, "b", pairs("k", "v"))
}

func (s *suite) testClosed(t *testing.T) {
	st := s.open(t)
	put(t, st, "b", "k", "v")
	st.close(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func(context.Context, func(store.Tx) error) error
	}{
		{"View", st.View},
		{"Update", st.Update},
		{"Batch", st.Batch},
	} {
		ran := false
		err := tc.call(ctx, func(store.Tx) error { ran = true; return nil })
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", tc.name, err)
		}
		if ran {
			t.Errorf("%s after Close ran fn", tc.name)
		}
	}
}

func (s *suite) testDurable(t *testing.T) {
	if s.o.Reopen == nil {
		t.Skip("storetest: no Options.Reopen; durability across a reopen is not checked")
	}
	st := s.open(t)
	ctx := context.Background()
	put(t, st, "a", "k1", "v1", "k2", "v2", "empty", "")
	put(t, st, "b", "k", "v")
	update(t, st, func(tx store.Tx) error { return tx.Bucket("a").Delete([]byte("k2")) })
	if err := st.Batch(ctx, func(tx store.Tx) error { return tx.Bucket("b").Put([]byte("batched"), []byte("v")) }); err != nil {
		t.Fatalf("Batch: %v", err)
	}
	mine := errors.New("roll back")
	if err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Bucket("c").Put([]byte("rolled"), []byte("back")); err != nil {
			return err
		}
		return mine
	}); err != mine {
		t.Fatalf("Update = %v; want the caller's error", err)
	}

	check := func(st store.Store) {
		t.Helper()
		wantBucket(t, st, "a", pairs("empty", "", "k1", "v1"))
		wantBucket(t, st, "b", pairs("batched", "v", "k", "v"))
		wantBucket(t, st, "c", nil)
		view(t, st, func(tx store.Tx) error {
			if v := tx.Bucket("a").Get([]byte("empty")); v == nil {
				t.Error("an empty value read back as absent")
			}
			return nil
		})
	}

	st.close(t)
	re := s.reopen(t, st)
	check(re)

	// The reopened store takes writes, which survive a second reopen.
	put(t, re, "a", "k3", "v3")
	re.close(t)
	re2 := s.reopen(t, re)
	if v, _ := get(t, re2, "a", "k3"); v != "v3" {
		t.Errorf("a write after the first reopen read back as %q; want \"v3\"", v)
	}
}

func (s *suite) reopen(t *testing.T, closed *handle) *handle {
	t.Helper()
	st := s.o.Reopen(t, closed.Store)
	if st == nil {
		t.Fatal("storetest: Reopen returned a nil store")
	}
	h := &handle{Store: st}
	t.Cleanup(func() {
		if !h.closed {
			if err := h.Store.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return h
}
