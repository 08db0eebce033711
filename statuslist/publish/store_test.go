package publish

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/vc"
)

const testBase = "http://localhost:8080"

func openStore(tb testing.TB, db store.Store, size int) *Store {
	tb.Helper()
	opts := Options{BaseURL: testBase, Size: size}
	if size < statuslist.MinSize {
		opts.minSize = 8
	}
	s, err := Open(db, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func allocate(tb testing.TB, db store.Store, s *Store, p Purpose) vc.StatusEntry {
	tb.Helper()
	var e vc.StatusEntry
	err := db.Update(context.Background(), func(tx store.Tx) error {
		var err error
		e, err = s.AllocateTx(tx, p)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestOpenOptions(t *testing.T) {
	db, _ := openDB(t)
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{BaseURL: "https://issuer.example"}, true},
		{"trailing slash", Options{BaseURL: "http://localhost:8080/"}, true},
		{"path", Options{BaseURL: "https://example.com/issuer"}, true},
		{"no base", Options{}, false},
		{"relative", Options{BaseURL: "/status"}, false},
		{"ftp", Options{BaseURL: "ftp://example.com"}, false},
		{"query", Options{BaseURL: "https://example.com/?a=b"}, false},
		{"userinfo", Options{BaseURL: "https://u:p@example.com"}, false},
		{"below minimum", Options{BaseURL: testBase, Size: statuslist.MinSize - 8}, false},
		{"negative", Options{BaseURL: testBase, Size: -1}, false},
		{"ttl under a second", Options{BaseURL: testBase, TTL: time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(db, tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("Open = %v, want ok %v", err, tt.ok)
			}
		})
	}
	s, err := Open(db, Options{BaseURL: "http://localhost:8080/", Size: statuslist.MinSize + 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.size != statuslist.MinSize+8 || s.ListURL(Suspension, 3) != "http://localhost:8080/status/suspension/3" {
		t.Fatalf("size %d, URL %s", s.size, s.ListURL(Suspension, 3))
	}
}

func TestAllocateEntry(t *testing.T) {
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	for _, p := range []Purpose{Revocation, Suspension} {
		e := allocate(t, db, s, p)
		u := testBase + "/status/" + string(p) + "/0"
		if e.StatusListCredential != u || e.ID != "" ||
			e.Type != "BitstringStatusListEntry" || e.StatusPurpose != string(p) {
			t.Fatalf("entry %+v", e)
		}
		if i, err := strconv.Atoi(e.StatusListIndex); err != nil || i < 0 || i >= statuslist.MinSize {
			t.Fatalf("index %q", e.StatusListIndex)
		}
	}
	if err := db.Update(context.Background(), func(tx store.Tx) error {
		_, err := s.AllocateTx(tx, "message")
		return err
	}); !errors.Is(err, ErrUnknownPurpose) {
		t.Fatalf("unknown purpose: %v", err)
	}
	if err := db.View(context.Background(), func(tx store.Tx) error {
		_, err := s.AllocateTx(tx, Revocation)
		return err
	}); !errors.Is(err, ErrReadOnlyTx) {
		t.Fatalf("read-only tx: %v", err)
	}
}

// TestAllocateNeverRepeats fills small lists across a database reopen: every
// index of each list is handed out once, then the next list opens.
func TestAllocateNeverRepeats(t *testing.T) {
	const size = 64
	db, path := openDB(t)
	s := openStore(t, db, size)
	seen := map[string]bool{}
	take := func(s *Store, db store.Store, n int) {
		for i := 0; i < n; i++ {
			e := allocate(t, db, s, Revocation)
			if seen[entryKey(e)] {
				t.Fatalf("allocation %d repeats %s", len(seen), entryKey(e))
			}
			seen[entryKey(e)] = true
		}
	}
	take(s, db, size)
	for id := range seen {
		if !strings.HasPrefix(id, testBase+"/status/revocation/0#") {
			t.Fatalf("first %d allocations left list 0: %s", size, id)
		}
	}
	take(s, db, size/2)
	if e := allocate(t, db, s, Suspension); e.StatusListCredential != testBase+"/status/suspension/0" {
		t.Fatalf("suspension lists are separate: %s", e.StatusListCredential)
	}

	// Restart: the counter and keys are in the store only.
	db.Close()
	db2, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	s2 := openStore(t, db2, size)
	take(s2, db2, size/2+size+1)
	count := map[string]int{}
	for id := range seen {
		count[id[:strings.IndexByte(id, '#')]]++
	}
	for n, want := range []int{size, size, size, 1} {
		if got := count[testBase+"/status/revocation/"+strconv.Itoa(n)]; got != want {
			t.Fatalf("list %d has %d allocations, want %d: %v", n, got, want, count)
		}
	}
}

func TestAllocateRollsBackWithTx(t *testing.T) {
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	allocate(t, db, s, Revocation) // opens the list and its key
	boom := errors.New("credential write failed")
	var lost vc.StatusEntry
	err := db.Update(context.Background(), func(tx store.Tx) error {
		var err error
		lost, err = s.AllocateTx(tx, Revocation)
		if err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	// The counter did not advance: the same index comes out again, and the
	// rolled-back one was never "handed out".
	if e := allocate(t, db, s, Revocation); e != lost {
		t.Fatalf("after rollback got %v, want %v again", e, lost)
	}
}

func TestSetAndStatus(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	rev := allocate(t, db, s, Revocation)
	sus := allocate(t, db, s, Suspension)
	other := allocate(t, db, s, Revocation)

	steps := []struct {
		name    string
		entry   vc.StatusEntry
		set     bool
		wantErr error
	}{
		{"suspend", sus, true, nil},
		{"suspend again", sus, true, nil},
		{"reinstate", sus, false, nil},
		{"reinstate again", sus, false, nil},
		{"revoke", rev, true, nil},
		{"revoke again", rev, true, nil},
		{"unrevoke", rev, false, ErrIrreversible},
		{"unrevoke unset", other, false, ErrIrreversible},
	}
	want := map[string]bool{}
	for _, st := range steps {
		err := s.Set(ctx, st.entry, st.set)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: Set = %v, want %v", st.name, err, st.wantErr)
		}
		if err == nil {
			want[entryKey(st.entry)] = st.set
		}
		for _, e := range []vc.StatusEntry{rev, sus, other} {
			got, err := s.Status(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			if got != want[entryKey(e)] {
				t.Fatalf("%s: Status(%s) = %v, want %v", st.name, entryKey(e), got, want[entryKey(e)])
			}
		}
	}
}

func TestSetUnknownEntry(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	e := allocate(t, db, s, Suspension)
	idx, _ := strconv.Atoi(e.StatusListIndex)
	with := func(f func(*vc.StatusEntry)) vc.StatusEntry { c := e; f(&c); return c }
	tests := []struct {
		name  string
		entry vc.StatusEntry
	}{
		{"foreign host", with(func(c *vc.StatusEntry) { c.StatusListCredential = "https://evil.example/status/suspension/0" })},
		{"purpose disagrees", with(func(c *vc.StatusEntry) { c.StatusPurpose = "revocation" })},
		{"unknown purpose", with(func(c *vc.StatusEntry) {
			c.StatusPurpose = "message"
			c.StatusListCredential = testBase + "/status/message/0"
		})},
		{"list never opened", with(func(c *vc.StatusEntry) { c.StatusListCredential = testBase + "/status/suspension/1" })},
		{"list number leading zero", with(func(c *vc.StatusEntry) { c.StatusListCredential = testBase + "/status/suspension/00" })},
		{"never allocated", with(func(c *vc.StatusEntry) { c.StatusListIndex = strconv.Itoa((idx + 1) % statuslist.MinSize) })},
		{"out of range", with(func(c *vc.StatusEntry) { c.StatusListIndex = strconv.Itoa(statuslist.MinSize) })},
		{"not decimal", with(func(c *vc.StatusEntry) { c.StatusListIndex = "0x10" })},
		{"negative", with(func(c *vc.StatusEntry) { c.StatusListIndex = "-1" })},
		{"leading zero", with(func(c *vc.StatusEntry) { c.StatusListIndex = "0" + e.StatusListIndex })},
		{"wrong type", with(func(c *vc.StatusEntry) { c.Type = "StatusList2021Entry" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Set(ctx, tt.entry, true); !errors.Is(err, ErrUnknownEntry) {
				t.Fatalf("Set = %v, want ErrUnknownEntry", err)
			}
			// Status reads a signed credential's entry and does not prove
			// allocation (only this issuer can have signed the index); a
			// never-allocated index reads as clear.
			set, err := s.Status(ctx, tt.entry)
			if tt.name == "never allocated" {
				if err != nil || set {
					t.Fatalf("Status = %v, %v, want clear", set, err)
				}
			} else if !errors.Is(err, ErrUnknownEntry) {
				t.Fatalf("Status = %v, want ErrUnknownEntry", err)
			}
		})
	}
}

func TestSetNotifiesAfterCommit(t *testing.T) {
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	e := allocate(t, db, s, Suspension)
	var got []string
	s.watch(func(u string, p Purpose) { got = append(got, string(p)+" "+u) })

	// Rolled back: no notification.
	boom := errors.New("boom")
	if err := db.Update(context.Background(), func(tx store.Tx) error {
		if err := s.SetTx(tx, e, true); err != nil {
			return err
		}
		if len(got) != 0 {
			t.Fatal("notified before commit")
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("notified for a rolled-back change: %v", got)
	}
	// Committed: one notification; a no-op change: none.
	if err := s.Set(context.Background(), e, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(context.Background(), e, true); err != nil {
		t.Fatal(err)
	}
	if want := "suspension " + e.StatusListCredential; len(got) != 1 || got[0] != want {
		t.Fatalf("notifications %v, want [%s]", got, want)
	}
	if err := db.View(context.Background(), func(tx store.Tx) error { return s.SetTx(tx, e, false) }); !errors.Is(err, ErrReadOnlyTx) {
		t.Fatalf("SetTx in a read-only tx: %v", err)
	}
}

// TestStatusTamperedAfterCachedRead: a status read remembers the stored
// bytes whose MAC verified, to skip the MAC of the very same bytes next
// time; bytes changed in the file afterwards are verified afresh and
// refused.
func TestStatusTamperedAfterCachedRead(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	s, err := Open(db, Options{BaseURL: testBase, RecordsKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	var e vc.StatusEntry
	if err := db.Update(ctx, func(tx store.Tx) error {
		var err error
		e, err = s.AllocateTx(tx, Revocation)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, e, true); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read is served from the verified bytes
		if set, err := s.Status(ctx, e); err != nil || !set {
			t.Fatalf("Status = %v, %v; want set", set, err)
		}
	}
	// Clear every bit in the stored record, keeping its MAC: an attacker
	// without the key un-revoking the credential.
	if err := db.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket(bucketBits)
		var k, v []byte
		if err := b.Range(nil, func(key, val []byte) error {
			k, v = bytes.Clone(key), bytes.Clone(val)
			return store.Stop
		}); err != nil {
			return err
		}
		for i := len(v) - 16<<10; i < len(v); i++ {
			v[i] = 0
		}
		return b.Put(k, v)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status(ctx, e); !errors.Is(err, ErrTampered) {
		t.Fatalf("Status of an edited record = %v, want ErrTampered", err)
	}
}

// entryKey names an entry by its list and index (entries carry no id).
func entryKey(e vc.StatusEntry) string { return e.StatusListCredential + "#" + e.StatusListIndex }
