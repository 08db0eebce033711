package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/store"
)

// TestWriteTxReadsOnce: a read-write transaction reads a row from the
// database once and then keeps what it read (every writer holds the
// writers' lock, so no other can change the row meanwhile); its own
// writes, and a failed Batch function's writes being dropped, still show.
// The row is changed behind the store's back, without the lock, which no
// agentid process does, to tell a second read from a kept one.
func TestWriteTxReadsOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	st := open(t, dsn)
	for _, k := range []string{"k", "absent-later"} {
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.Bucket("b").Put([]byte(k), []byte("old")) }); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	errDrop := errors.New("dropped")
	err = st.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket("b")
		if got := string(b.Get([]byte("k"))); got != "old" {
			t.Errorf("first read %q, want old", got)
		}
		if got := b.Get([]byte("new")); got != nil {
			t.Errorf("read of an absent key %q, want nil", got)
		}
		if _, err := conn.Exec(ctx, `UPDATE agentid_kv SET value = 'changed' WHERE bucket = 'b'`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO agentid_kv (bucket, key, value) VALUES ('b', 'new', 'changed')`); err != nil {
			t.Fatal(err)
		}
		if got := string(b.Get([]byte("k"))); got != "old" {
			t.Errorf("second read %q, want old (kept from the first)", got)
		}
		if got := b.Get([]byte("new")); got != nil {
			t.Errorf("second read of the absent key %q, want nil (kept)", got)
		}
		// A key not read before is read now, and sees the change.
		if got := string(b.Get([]byte("absent-later"))); got != "changed" {
			t.Errorf("first read of another key %q, want changed", got)
		}
		if err := b.Put([]byte("k"), []byte("mine")); err != nil {
			return err
		}
		if got := string(b.Get([]byte("k"))); got != "mine" {
			t.Errorf("read after own write %q, want mine", got)
		}
		if err := b.Delete([]byte("k")); err != nil {
			return err
		}
		if got := b.Get([]byte("k")); got != nil {
			t.Errorf("read after own delete %q, want nil", got)
		}
		return errDrop
	})
	if !errors.Is(err, errDrop) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	// A Batch function that fails: its write is dropped, and the next
	// function reads the database's value (kept or not, the same here).
	if err := st.Batch(ctx, func(tx store.Tx) error {
		if got := string(tx.Bucket("b").Get([]byte("k"))); got != "changed" {
			t.Errorf("read in a new transaction %q, want changed", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
