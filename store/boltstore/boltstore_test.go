package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/store/storetest"
)

func openTemp(t *testing.T) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "agentid.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	// bbolt forgets its path on Close, so remember it for Reopen.
	paths := map[store.Store]string{}
	open := func(t *testing.T, path string) store.Store {
		t.Helper()
		st, err := boltstore.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		paths[st] = path
		return st
	}
	storetest.RunOptions(t, storetest.Options{
		Open: func(t *testing.T) store.Store {
			return open(t, filepath.Join(t.TempDir(), "agentid.db"))
		},
		Reopen: func(t *testing.T, closed store.Store) store.Store {
			return open(t, paths[closed])
		},
	})
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentid.db")
	first, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	start := time.Now()
	second, err := boltstore.Open(path, &boltstore.Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a file in use succeeded")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("second Open = %v; want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v; want it to give up after its 50ms Timeout", d)
	}

	// The first store is unaffected, and once it is closed the file opens.
	if err := first.Update(context.Background(), func(tx store.Tx) error {
		return tx.Bucket("b").Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatalf("Update on the first store: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := boltstore.Open(path, &boltstore.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	third.Close()
}

func TestOpenError(t *testing.T) {
	// A path that cannot be a file is an error, and not ErrLocked.
	_, err := boltstore.Open(t.TempDir(), nil)
	if err == nil || errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("Open of a directory = %v; want a non-ErrLocked error", err)
	}
}

func TestSequential(t *testing.T) {
	st := openTemp(t)
	defer st.Close()
	ctx := context.Background()
	const n = 2000
	if err := st.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket("audit")
		seq, ok := b.(store.Sequential)
		if !ok {
			return fmt.Errorf("the bucket type %T does not implement store.Sequential", b)
		}
		seq.Sequential()
		for i := range n {
			if err := b.Put([]byte(fmt.Sprintf("%08d", i)), []byte("event")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The hint changes the packing, not the content.
	i := 0
	if err := st.View(ctx, func(tx store.Tx) error {
		return tx.Bucket("audit").Range(nil, func(k, v []byte) error {
			if string(k) != fmt.Sprintf("%08d", i) || string(v) != "event" {
				return fmt.Errorf("entry %d is %q=%q", i, k, v)
			}
			i++
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Errorf("Range saw %d entries; want %d", i, n)
	}
}

func TestReadOnlyOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentid.db")
	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.Bucket("b").Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.View(context.Background(), func(tx store.Tx) error {
		if v := tx.Bucket("b").Get([]byte("k")); string(v) != "v" {
			t.Errorf("Get = %q; want \"v\"", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := ro.Update(context.Background(), func(store.Tx) error { return nil }); err == nil {
		t.Error("Update on a read-only store succeeded")
	}
}

func Example() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	st, err := boltstore.Open(filepath.Join(dir, "agentid.db"), nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ctx := context.Background()

	err = st.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket("issuer.agents")
		if err := b.Put([]byte("agent-2"), []byte("bob")); err != nil {
			return err
		}
		return b.Put([]byte("agent-1"), []byte("alice"))
	})
	if err != nil {
		panic(err)
	}

	err = st.View(ctx, func(tx store.Tx) error {
		return tx.Bucket("issuer.agents").Range(nil, func(k, v []byte) error {
			fmt.Printf("%s=%s\n", k, v)
			return nil
		})
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// agent-1=alice
	// agent-2=bob
}

// TestFaultOpenDamaged: Open refuses a truncated file or one without a
// valid meta page with ErrDamaged, and leaves the file as it was.
func TestFaultOpenDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentid.db")
	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Enough data for the file to outgrow bbolt's initial pages.
	for i := range 20 {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			return tx.Bucket("b").Put(fmt.Appendf(nil, "k%03d", i), make([]byte, 8000))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if err := boltstore.Validate(path); err != nil {
		t.Fatalf("Validate of a whole file: %v", err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	for _, size := range []int64{fi.Size() / 2, fi.Size() - 1, 100} {
		if err := os.WriteFile(path, whole[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := boltstore.Open(path, nil); !errors.Is(err, boltstore.ErrDamaged) {
			t.Errorf("Open of %d of %d bytes: %v, want ErrDamaged", size, fi.Size(), err)
		}
		if now, _ := os.Stat(path); now.Size() != size {
			t.Errorf("Open changed the file's size to %d", now.Size())
		}
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := boltstore.Validate(path); !errors.Is(err, boltstore.ErrEmpty) {
		t.Errorf("Validate of 0 bytes: %v, want ErrEmpty", err)
	}
	if err := boltstore.Validate(path + ".none"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Validate of no file: %v, want ErrNotExist", err)
	}
}
