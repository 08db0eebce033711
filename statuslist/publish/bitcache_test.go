package publish

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
)

// TestBitCacheFollowsChanges: every change acknowledged by Set is seen by
// the next cached read, the reads in between answering from memory.
func TestBitCacheFollowsChanges(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	c := s.NewBitCache(0)
	rev := allocate(t, db, s, Revocation)
	sus := allocate(t, db, s, Suspension)
	other := allocate(t, db, s, Revocation)

	steps := []struct {
		name  string
		entry vc.StatusEntry
		set   bool
	}{
		{"nothing yet", sus, false},
		{"suspend", sus, true},
		{"reinstate", sus, false},
		{"revoke", rev, true},
		{"suspend again", sus, true},
	}
	want := map[string]bool{}
	for _, st := range steps {
		if err := s.Set(ctx, st.entry, st.set); err != nil {
			t.Fatalf("%s: Set = %v", st.name, err)
		}
		want[entryKey(st.entry)] = st.set
		for i := 0; i < 2; i++ { // a fill, then a read from memory
			for _, e := range []vc.StatusEntry{rev, sus, other} {
				got, err := c.Status(ctx, e)
				if err != nil {
					t.Fatal(err)
				}
				if got != want[entryKey(e)] {
					t.Fatalf("%s: cached Status(%s) = %v, want %v", st.name, entryKey(e), got, want[entryKey(e)])
				}
			}
		}
		if n := len(*c.lists.Load()); n != 2 {
			t.Fatalf("%s: %d lists cached, want 2 (one a purpose)", st.name, n)
		}
	}
}

// TestBitCacheRefusesAsStore: entries the store refuses are refused alike
// from memory (ErrUnknownEntry), and a cached read of a list already held
// keeps refusing them.
func TestBitCacheRefusesAsStore(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	c := s.NewBitCache(0)
	e := allocate(t, db, s, Revocation)
	if _, err := c.Status(ctx, e); err != nil { // fills
		t.Fatal(err)
	}
	bad := func(f func(*vc.StatusEntry)) vc.StatusEntry { x := e; f(&x); return x }
	tests := []struct {
		name string
		e    vc.StatusEntry
	}{
		{"purpose disagrees", bad(func(x *vc.StatusEntry) { x.StatusPurpose = string(Suspension) })},
		{"type", bad(func(x *vc.StatusEntry) { x.Type = "StatusList2021Entry" })},
		{"index not a number", bad(func(x *vc.StatusEntry) { x.StatusListIndex = "x1" })},
		{"index leading zero", bad(func(x *vc.StatusEntry) { x.StatusListIndex = "0" + x.StatusListIndex })},
		{"index out of range", bad(func(x *vc.StatusEntry) { x.StatusListIndex = "131072" })},
		{"unknown list", bad(func(x *vc.StatusEntry) { x.StatusListCredential = s.ListURL(Revocation, 7) })},
		{"other issuer", bad(func(x *vc.StatusEntry) { x.StatusListCredential = "https://other.example/status/revocation/0" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, want := s.Status(ctx, tt.e)
			if !errors.Is(want, ErrUnknownEntry) {
				t.Fatalf("Store.Status = %v, want ErrUnknownEntry", want)
			}
			for i := 0; i < 2; i++ {
				if _, err := c.Status(ctx, tt.e); !errors.Is(err, ErrUnknownEntry) {
					t.Fatalf("BitCache.Status = %v, want ErrUnknownEntry", err)
				}
			}
		})
	}
}

// hookDB calls after once a read transaction has ended, before View
// returns: the moment between a fill's read and its install.
type hookDB struct {
	store.Store
	after atomic.Pointer[func()]
}

func (h *hookDB) View(ctx context.Context, fn func(store.Tx) error) error {
	err := h.Store.View(ctx, fn)
	if f := h.after.Swap(nil); f != nil {
		(*f)()
	}
	return err
}

// TestBitCacheFillRacingChange: a fill whose read began before a change
// committed is not kept, so the next read sees the change.
func TestBitCacheFillRacingChange(t *testing.T) {
	ctx := context.Background()
	bolt, _ := openDB(t)
	db := &hookDB{Store: bolt}
	s := openStore(t, db, statuslist.MinSize)
	c := s.NewBitCache(0)
	e := allocate(t, db, s, Revocation)
	revoke := func() {
		if err := s.Set(ctx, e, true); err != nil {
			t.Error(err)
		}
	}
	db.after.Store(&revoke)
	set, err := c.Status(ctx, e)
	if err != nil || set {
		t.Fatalf("racing read = %v, %v; want false (read before the change)", set, err)
	}
	if set, err := c.Status(ctx, e); err != nil || !set {
		t.Fatalf("read after the acknowledged revocation = %v, %v; want true", set, err)
	}
}

// TestBitCacheConcurrentRevocations: readers hammer the cache while a
// writer revokes; once Set returns, every read says revoked.
func TestBitCacheConcurrentRevocations(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	c := s.NewBitCache(0)
	entries := make([]vc.StatusEntry, 200)
	for i := range entries {
		entries[i] = allocate(t, db, s, Revocation)
	}
	var revoked atomic.Int64 // entries[:revoked] are acknowledged revoked
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(revoked.Load())
				for _, e := range entries[:n] {
					set, err := c.Status(ctx, e)
					if err != nil || !set {
						t.Errorf("entry %s acknowledged revoked reads %v, %v", e.StatusListIndex, set, err)
						return
					}
				}
				if n < len(entries) {
					_, _ = c.Status(ctx, entries[n])
				}
			}
		}()
	}
	for i, e := range entries {
		if err := s.Set(ctx, e, true); err != nil {
			t.Fatal(err)
		}
		revoked.Store(int64(i + 1))
	}
	close(stop)
	wg.Wait()
}

// TestBitCacheChangedDrops: an announcement of a change made elsewhere
// drops the list's copy.
func TestBitCacheChangedDrops(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	c := s.NewBitCache(0)
	e := allocate(t, db, s, Revocation)
	if _, err := c.Status(ctx, e); err != nil {
		t.Fatal(err)
	}
	// Another Store on the same database changes the bit: this one's
	// cache cannot know until it is told.
	other := openStore(t, db, statuslist.MinSize)
	if err := other.Set(ctx, e, true); err != nil {
		t.Fatal(err)
	}
	if set, _ := c.Status(ctx, e); set {
		t.Fatal("the cache saw a change it was not told of: the test no longer shows why Changed is needed")
	}
	if err := s.Changed(string(Revocation) + " " + e.StatusListCredential); err != nil {
		t.Fatal(err)
	}
	if set, err := c.Status(ctx, e); err != nil || !set {
		t.Fatalf("after Changed: %v, %v; want true", set, err)
	}
}

// TestBitCacheBound: past maxLists, lists are answered, not kept.
func TestBitCacheBound(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	c := s.NewBitCache(1)
	for _, p := range []Purpose{Revocation, Suspension} {
		e := allocate(t, db, s, p)
		if set, err := c.Status(ctx, e); err != nil || set {
			t.Fatalf("%s: %v, %v", p, set, err)
		}
	}
	if n := len(*c.lists.Load()); n != 1 {
		t.Fatalf("%d lists kept, want 1", n)
	}
}
