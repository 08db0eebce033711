package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/pgstore"
)

// TestCloseDuringNestedOperation: Close waits for the operations under
// way, and one that begins inside another meanwhile (a status list's
// signer reads its keys inside the transaction that stores the list)
// fails with store.ErrClosed instead of waiting behind Close. With a
// sync.RWMutex guard, the inner read lock queued behind Close's write
// lock, which waited for the outer one: both hung (a test binary was
// killed after 600 s).
func TestCloseDuringNestedOperation(t *testing.T) {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, pgtest.New(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	var inner error
	outer := make(chan error, 1)
	go func() {
		outer <- st.Update(ctx, func(tx store.Tx) error {
			close(inside)
			<-release
			inner = st.View(ctx, func(store.Tx) error { return nil })
			return tx.Bucket("b").Put([]byte("k"), []byte("v"))
		})
	}()
	<-inside
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	for deadline := time.Now().Add(10 * time.Second); !pgstore.Closing(st); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Close did not begin")
		}
	}
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung behind an operation that entered the store again")
	}
	if err := <-outer; err != nil {
		t.Fatalf("the outer transaction: %v (it was under way when Close began)", err)
	}
	if !errors.Is(inner, store.ErrClosed) {
		t.Fatalf("the inner read: %v, want store.ErrClosed", inner)
	}
	if err := st.View(ctx, func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after Close: %v, want store.ErrClosed", err)
	}
}
