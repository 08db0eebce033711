package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
)

// TestBatchGroupCommit: the callers that arrive while a commit is in
// flight share the next one, whatever their number, and a failing
// function among them keeps its own error without failing the others.
func TestBatchGroupCommit(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	before := boltstore.TxID(st)
	hold, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		err := st.Batch(ctx, func(tx store.Tx) error {
			// Held on its first run only, whenever the test goroutine
			// gets to wait for it (a select with a default raced it).
			once.Do(func() {
				close(held)
				<-hold
			})
			return tx.Bucket("b").Put([]byte("first"), []byte("1"))
		})
		if err != nil {
			t.Error(err)
		}
	})
	<-held // the first commit is in flight
	const callers = 300
	errFail := errors.New("refused")
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			errs[i] = st.Batch(ctx, func(tx store.Tx) error {
				if err := tx.Bucket("b").Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
					return err
				}
				if i%10 == 0 {
					return errFail
				}
				return nil
			})
		})
	}
	for deadline := time.Now().Add(10 * time.Second); boltstore.Pending(st) < callers; {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers pending, want %d", boltstore.Pending(st), callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	// The first caller's commit, then one for the 270 callers whose
	// function succeeded; each failing function ran again alone (and
	// committed nothing); no retry commits anything.
	if got := boltstore.TxID(st) - before; got != 2 {
		t.Errorf("%d commits for %d callers arriving during one commit; want 2", got, callers+1)
	}
	n := 0
	if err := st.View(ctx, func(tx store.Tx) error {
		return tx.Bucket("b").Range(nil, func(k, v []byte) error {
			if strings.HasPrefix(string(k), "k") {
				n++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if want := i%10 == 0; want != errors.Is(err, errFail) || !want && err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n != callers-callers/10 {
		t.Errorf("%d keys written, want %d", n, callers-callers/10)
	}
}

// TestBatchPanicIsTheCallers: a function that panics inside a batch
// panics in its caller's goroutine (run again alone), and the other
// callers' commits go through.
func TestBatchPanicIsTheCallers(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	var got any
	wg.Go(func() {
		defer func() { got = recover() }()
		_ = st.Batch(ctx, func(store.Tx) error { panic("boom") })
	})
	for i := range 20 {
		wg.Go(func() {
			if err := st.Batch(ctx, func(tx store.Tx) error {
				return tx.Bucket("b").Put(fmt.Appendf(nil, "k%d", i), []byte("v"))
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got != "boom" {
		t.Errorf("recovered %v in the caller, want the function's panic", got)
	}
}
