package pgstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/pgstore"
)

func open(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Two stores on one database (two replicas) serialise their read-write
// transactions: a counter read and incremented by both loses no update.
func TestReplicasSerialiseWrites(t *testing.T) {
	dsn := pgtest.New(t)
	replicas := []*pgstore.Store{open(t, dsn), open(t, dsn)}
	const workers, rounds = 16, 25
	ctx := context.Background()
	incr := func(tx store.Tx) error {
		b := tx.Bucket("counters")
		n, _ := strconv.Atoi(string(b.Get([]byte("shared"))))
		return b.Put([]byte("shared"), []byte(strconv.Itoa(n+1)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := replicas[w%2]
			for r := range rounds {
				call := st.Batch
				if r%5 == 0 {
					call = st.Update
				}
				if err := call(ctx, incr); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, st := range replicas {
		var got string
		if err := st.View(ctx, func(tx store.Tx) error {
			got = string(tx.Bucket("counters").Get([]byte("shared")))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != strconv.Itoa(workers*rounds) {
			t.Errorf("replica %d reads the counter as %s; want %d (lost updates)", i, got, workers*rounds)
		}
	}
}

// Keys longer than the indexed prefix, sharing it, are distinct and in
// byte order; random (incompressible) keys of MaxKeySize are accepted.
func TestLongKeys(t *testing.T) {
	st := open(t, pgtest.New(t))
	ctx := context.Background()
	prefix := make([]byte, 2000)
	rand.Read(prefix)
	mk := func(tail string) []byte { return append(bytes.Clone(prefix), tail...) }
	max := make([]byte, store.MaxKeySize)
	rand.Read(max)
	keys := [][]byte{mk("b"), mk("a\xff"), mk("a"), mk(""), max}
	if err := st.Update(ctx, func(tx store.Tx) error {
		for i, k := range keys {
			if err := tx.Bucket("b").Put(k, []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.View(ctx, func(tx store.Tx) error {
		var got [][]byte
		if err := tx.Bucket("b").Range(nil, func(k, v []byte) error {
			got = append(got, k)
			return nil
		}); err != nil {
			return err
		}
		if len(got) != len(keys) {
			return fmt.Errorf("Range found %d keys; want %d", len(got), len(keys))
		}
		for i := 1; i < len(got); i++ {
			if bytes.Compare(got[i-1], got[i]) >= 0 {
				t.Errorf("keys %d and %d out of byte order", i-1, i)
			}
		}
		for i, k := range keys {
			if v := tx.Bucket("b").Get(k); len(v) != 1 || v[0] != byte(i) {
				t.Errorf("Get(key %d) = %v; want [%d]", i, v, i)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.Bucket("b").Put(make([]byte, store.MaxKeySize+1), nil)
	}); err == nil {
		t.Error("a key of MaxKeySize+1 bytes was accepted")
	}
}

// Replicas starting together on a new database apply each migration once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.New(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := pgstore.Open(context.Background(), dsn, nil)
			if err == nil {
				st.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
	ms, unknown, err := pgstore.Status(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 0 {
		t.Errorf("unknown versions %v", unknown)
	}
	for _, m := range ms {
		if !m.Applied {
			t.Errorf("migration %d (%s) not applied", m.Version, m.Name)
		}
	}
}

// While PostgreSQL is down every transaction fails with ErrUnavailable
// and commits nothing; once it is back the same store works again.
func TestDatabaseRestart(t *testing.T) {
	c := pgtest.Shared(t)
	dsn := pgtest.New(t)
	st := open(t, dsn)
	ctx := context.Background()
	put := func(call func(context.Context, func(store.Tx) error) error, k string) error {
		return call(ctx, func(tx store.Tx) error { return tx.Bucket("b").Put([]byte(k), []byte("v")) })
	}
	if err := put(st.Update, "before"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			c.Start()
		}
	}()
	for _, tc := range []struct {
		name string
		call func(context.Context, func(store.Tx) error) error
	}{{"Update", st.Update}, {"Batch", st.Batch}, {"View", st.View}} {
		err := put(tc.call, "during-"+tc.name)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while the database is down = %v; want ErrUnavailable", tc.name, err)
		}
	}
	if err := st.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping while down = %v; want ErrUnavailable", err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if err := put(st.Batch, "after"); err != nil {
		t.Fatalf("Batch after the restart: %v", err)
	}
	var keys []string
	if err := st.View(ctx, func(tx store.Tx) error {
		return tx.Bucket("b").Range(nil, func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[after before]" {
		t.Errorf("keys after the restart = %q; want [after before]", keys)
	}
}

// An announcement reaches the other replica once its transaction commits,
// never when it rolls back, and never the announcing store itself.
func TestAnnounce(t *testing.T) {
	dsn := pgtest.New(t)
	a, b := open(t, dsn), open(t, dsn)
	got := make(chan string, 16)
	ready := make(chan struct{}, 16)
	b.Subscribe("test", func(p string, missed bool) {
		if missed {
			ready <- struct{}{}
			return
		}
		got <- "b:" + p
	})
	a.Subscribe("test", func(p string, missed bool) {
		if !missed {
			got <- "a:" + p
		}
	})
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("the listener did not start")
	}
	ctx := context.Background()
	announce := func(call func(context.Context, func(store.Tx) error) error, payload string, fail bool) {
		err := call(ctx, func(tx store.Tx) error {
			an, ok := tx.(store.Announcer)
			if !ok {
				return errors.New("a pgstore transaction is not a store.Announcer")
			}
			an.Announce("test", payload)
			if fail {
				return errors.New("roll back")
			}
			return tx.Bucket("b").Put([]byte(payload), nil)
		})
		if (err != nil) != fail {
			t.Fatalf("%s: %v", payload, err)
		}
	}
	announce(a.Update, "rolled-back", true)
	announce(a.Batch, "batch-rolled-back", true)
	announce(a.Update, "update", false)
	announce(a.Batch, "batch", false)
	var seen []string
	timeout := time.After(time.Second)
	for len(seen) < 2 {
		select {
		case p := <-got:
			seen = append(seen, p)
		case <-timeout:
			t.Fatalf("within 1s the other replica received %q; want [b:update b:batch]", seen)
		}
	}
	select {
	case p := <-got:
		seen = append(seen, p)
	case <-time.After(200 * time.Millisecond):
	}
	if fmt.Sprint(seen) != "[b:update b:batch]" {
		t.Errorf("received %q; want [b:update b:batch]", seen)
	}
}

// Every committed transaction that announces on a topic increments its
// generation once, whichever store committed it; a rollback does not.
func TestGeneration(t *testing.T) {
	dsn := pgtest.New(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	gen := func() int64 {
		t.Helper()
		g, err := b.Generation(ctx, "status")
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := gen(); g != 0 {
		t.Fatalf("generation of a new database = %d; want 0", g)
	}
	announce := func(n int, fail bool) {
		_ = a.Update(ctx, func(tx store.Tx) error {
			for range n {
				tx.(store.Announcer).Announce("status", "x")
			}
			if fail {
				return errors.New("roll back")
			}
			return nil
		})
	}
	announce(3, false)
	if g := gen(); g != 1 {
		t.Errorf("after one transaction announcing three times: %d; want 1", g)
	}
	announce(1, true)
	if g := gen(); g != 1 {
		t.Errorf("after a rollback: %d; want 1", g)
	}
	announce(1, false)
	if g := gen(); g != 2 {
		t.Errorf("after a second commit: %d; want 2", g)
	}
	if g, err := b.Generation(ctx, "other"); err != nil || g != 0 {
		t.Errorf("another topic: %d, %v; want 0", g, err)
	}
}
