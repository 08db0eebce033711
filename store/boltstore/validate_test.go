package boltstore_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/agentid/agentid/store/boltstore"
)

var ne = binary.NativeEndian

// fixture writes a bbolt database with every kind of page Validate walks:
// a bucket deep enough for branch pages, a value spilling into overflow
// pages, a nested bucket with its own root page, an inline nested bucket,
// and free pages. It is written with bbolt directly (not through Open) so
// that the freelist can be persisted or not, and the page size chosen.
func fixture(tb testing.TB, path string, pageSize, keys int, syncFreelist bool) {
	tb.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{PageSize: pageSize, NoFreelistSync: !syncFreelist})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		agents, err := tx.CreateBucket([]byte("agents"))
		if err != nil {
			return err
		}
		for i := range keys {
			if err := agents.Put(fmt.Appendf(nil, "agent-%06d", i), bytes.Repeat([]byte{'v'}, 60)); err != nil {
				return err
			}
		}
		big, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		if err := big.Put([]byte("blob"), bytes.Repeat([]byte{'b'}, 5*pageSize)); err != nil {
			return err
		}
		outer, err := tx.CreateBucket([]byte("outer"))
		if err != nil {
			return err
		}
		inner, err := outer.CreateBucket([]byte("inner"))
		if err != nil {
			return err
		}
		for i := range keys / 4 {
			if err := inner.Put(fmt.Appendf(nil, "k%05d", i), bytes.Repeat([]byte{'i'}, 40)); err != nil {
				return err
			}
		}
		tiny, err := outer.CreateBucket([]byte("tiny"))
		if err != nil {
			return err
		}
		return tiny.Put([]byte("only"), []byte("one"))
	})
	if err != nil {
		tb.Fatal(err)
	}
	// Free some pages.
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("agents"))
		for i := 0; i < keys; i += 3 {
			if err := b.Delete(fmt.Appendf(nil, "agent-%06d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// layout is what bbolt itself says about a fixture's pages.
type layout struct {
	pageSize  int
	hwm       int
	freelist  int   // 0 if not persisted
	branch    int   // the "agents" bucket's root, a branch page
	leaf      int   // a leaf page of "agents"
	overflow  int   // the page holding "big"'s value, with overflow
	outer     int   // the "outer" bucket's root page (a leaf)
	innerRoot int   // the "inner" bucket's root page
	pages     []int // every branch or leaf page
}

func describe(t *testing.T, path string) layout {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var l layout
	l.pageSize = db.Info().PageSize
	err = db.View(func(tx *bbolt.Tx) error {
		l.hwm = int(tx.Size()) / l.pageSize
		l.branch = int(tx.Bucket([]byte("agents")).Root())
		l.outer = int(tx.Bucket([]byte("outer")).Root())
		l.innerRoot = int(tx.Bucket([]byte("outer")).Bucket([]byte("inner")).Root())
		for id := 2; id < l.hwm; id++ {
			pi, err := tx.Page(id)
			if err != nil || pi == nil {
				return fmt.Errorf("page %d: %v", id, err)
			}
			switch pi.Type {
			case "freelist":
				l.freelist = id
			case "branch":
				l.pages = append(l.pages, id)
			case "leaf":
				l.pages = append(l.pages, id)
				if pi.OverflowCount > 0 {
					l.overflow = id
				}
			}
			id += pi.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first child of the "agents" branch is a leaf.
	raw := readPage(t, path, l, l.branch)
	if ne.Uint16(raw[8:]) != 0x01 {
		t.Fatalf("agents root page %d is not a branch page; make the fixture larger", l.branch)
	}
	l.leaf = int(ne.Uint64(raw[16+8:]))
	if l.overflow == 0 {
		t.Fatal("the fixture has no overflow page")
	}
	return l
}

func readPage(t *testing.T, path string, l layout, id int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[id*l.pageSize : (id+1)*l.pageSize]
}

// edit rewrites the file at path through fn.
func edit(t *testing.T, path string, fn func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFaultValidateDamagedPages: each targeted damage to a page bbolt
// would read is refused by Validate, and by Open, with ErrDamaged and a
// message naming the page and the fault; nothing panics. The page numbers
// come from bbolt's own page map of the fixture, not from Validate's
// reader.
func TestFaultValidateDamagedPages(t *testing.T) {
	in := func(b []byte, l layout, id, off int) []byte { return b[id*l.pageSize+off:] }
	// find returns the offset in page id of the key k's bytes.
	find := func(t *testing.T, b []byte, l layout, id int, k string) int {
		i := bytes.Index(b[id*l.pageSize:(id+1)*l.pageSize], []byte(k))
		if i < 0 {
			t.Fatalf("key %q not in page %d", k, id)
		}
		return i
	}
	cases := []struct {
		name   string
		synced bool
		damage func(t *testing.T, b []byte, l layout)
		want   string // a regexp; PAGE is the page, PSIZE2 two pages' bytes
		page   func(l layout) int
	}{
		{"zeroed branch page", false, func(t *testing.T, b []byte, l layout) {
			clear(in(b, l, l.branch, 0)[:l.pageSize])
		}, `page PAGE: its header says page 0`, func(l layout) int { return l.branch }},
		{"zeroed leaf page", false, func(t *testing.T, b []byte, l layout) {
			clear(in(b, l, l.leaf, 0)[:l.pageSize])
		}, `page PAGE: its header says page 0`, func(l layout) int { return l.leaf }},
		{"garbage leaf page with its id kept", false, func(t *testing.T, b []byte, l layout) {
			p := in(b, l, l.leaf, 8)[:l.pageSize-8]
			for i := range p {
				p[i] = byte(i*7 + 3)
			}
		}, `page PAGE: flags 0x`, func(l layout) int { return l.leaf }},
		{"bad flags: branch and leaf", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint16(in(b, l, l.leaf, 8), 0x03)
		}, `page PAGE: flags 0x3, want a branch or leaf page`, func(l layout) int { return l.leaf }},
		{"bad flags: a meta page in the tree", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint16(in(b, l, l.leaf, 8), 0x04)
		}, `page PAGE: flags 0x4, want a branch or leaf page`, func(l layout) int { return l.leaf }},
		{"bad leaf element flags", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint32(in(b, l, l.leaf, 16), 0x80)
		}, `page PAGE \(leaf\): element 0: flags 0x80`, func(l layout) int { return l.leaf }},
		{"count overflows the page", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint16(in(b, l, l.leaf, 10), 0xFFFF)
		}, `page PAGE \(leaf\): 65535 elements need \d+ bytes, the page has \d+`, func(l layout) int { return l.leaf }},
		{"branch with no elements", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint16(in(b, l, l.branch, 10), 0)
		}, `page PAGE \(branch\): no elements`, func(l layout) int { return l.branch }},
		{"element offset outside the page", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint32(in(b, l, l.leaf, 16+4), 1<<30)
		}, `page PAGE \(leaf\): element 0: key and value end at byte \d+, the page has \d+`, func(l layout) int { return l.leaf }},
		{"value size outside the page", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint32(in(b, l, l.leaf, 16+12), 0xFFFFFFFF)
		}, `page PAGE \(leaf\): element 0: key and value end at byte`, func(l layout) int { return l.leaf }},
		{"child page id out of range", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint64(in(b, l, l.branch, 16+8), uint64(l.hwm+5))
		}, `page PAGE: beyond the high-water mark`, func(l layout) int { return l.hwm + 5 }},
		{"child is a meta page", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint64(in(b, l, l.branch, 16+8), 1)
		}, `page PAGE: flags 0x4, want a branch or leaf page`, func(l layout) int { return 1 }},
		{"cycle: a branch points at itself", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint64(in(b, l, l.branch, 16+16+8), uint64(l.branch))
		}, `page PAGE: reached twice \(a cycle or a shared page\)`, func(l layout) int { return l.branch }},
		{"shared page: two children the same", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint64(in(b, l, l.branch, 16+16+8), uint64(l.leaf))
		}, `page PAGE: reached twice`, func(l layout) int { return l.leaf }},
		{"keys out of order", false, func(t *testing.T, b []byte, l layout) {
			// The leaf's second key made smaller than its first.
			e := in(b, l, l.leaf, 16+16)
			k := l.leaf*l.pageSize + 16 + 16 + int(ne.Uint32(e[4:]))
			b[k] = 'A'
		}, `page PAGE \(leaf\): element 1: key .* not above the key before it`, func(l layout) int { return l.leaf }},
		{"truncated overflow", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint32(in(b, l, l.overflow, 12), 1)
		}, `page PAGE \(leaf\): element 0: key and value end at byte \d+, the page has PSIZE2`, func(l layout) int { return l.overflow }},
		{"overflow past the high-water mark", false, func(t *testing.T, b []byte, l layout) {
			ne.PutUint32(in(b, l, l.overflow, 12), uint32(l.hwm))
		}, `page PAGE: overflow of \d+ pages runs past the high-water mark`, func(l layout) int { return l.overflow }},
		{"nested bucket root out of range", false, func(t *testing.T, b []byte, l layout) {
			k := find(t, b, l, l.outer, "inner")
			ne.PutUint64(in(b, l, l.outer, k+len("inner")), uint64(l.hwm+1))
		}, `bucket root page \d+ out of range \[2, \d+\) \(bucket at page PAGE element 0\)`, func(l layout) int { return l.outer }},
		{"nested bucket root zeroed", false, func(t *testing.T, b []byte, l layout) {
			clear(in(b, l, l.innerRoot, 0)[:l.pageSize])
		}, `page PAGE: its header says page 0`, func(l layout) int { return l.innerRoot }},
		{"inline bucket count overflows its value", false, func(t *testing.T, b []byte, l layout) {
			k := find(t, b, l, l.outer, "tiny")
			ne.PutUint16(in(b, l, l.outer, k+len("tiny")+16+10), 500)
		}, `inline bucket page: 500 elements need \d+ bytes, the page has \d+ \(bucket at page PAGE element 1\)`, func(l layout) int { return l.outer }},
		{"inline bucket page not a leaf", false, func(t *testing.T, b []byte, l layout) {
			k := find(t, b, l, l.outer, "tiny")
			ne.PutUint16(in(b, l, l.outer, k+len("tiny")+16+8), 0x01)
		}, `inline bucket page: flags 0x1, want a leaf page \(bucket at page PAGE element 1\)`, func(l layout) int { return l.outer }},
		{"zeroed freelist page", true, func(t *testing.T, b []byte, l layout) {
			clear(in(b, l, l.freelist, 0)[:l.pageSize])
		}, `freelist page PAGE: its header says page 0`, func(l layout) int { return l.freelist }},
		{"freelist count overflows", true, func(t *testing.T, b []byte, l layout) {
			ne.PutUint16(in(b, l, l.freelist, 10), 0xFFFF)
			ne.PutUint64(in(b, l, l.freelist, 16), 1<<40)
		}, `freelist page PAGE: 1099511627776 ids, room for \d+`, func(l layout) int { return l.freelist }},
		{"freelist frees a reachable page", true, func(t *testing.T, b []byte, l layout) {
			if ne.Uint16(in(b, l, l.freelist, 10)) == 0 {
				t.Fatal("the fixture's freelist is empty")
			}
			ne.PutUint64(in(b, l, l.freelist, 16), uint64(l.leaf))
		}, `freelist page \d+: page PAGE is free and reachable`, func(l layout) int { return l.leaf }},
		{"freelist loses a free page", true, func(t *testing.T, b []byte, l layout) {
			p := in(b, l, l.freelist, 0)
			n := int(ne.Uint16(p[10:]))
			if n == 0 || n == 0xFFFF {
				t.Fatalf("the fixture's freelist has count %d", n)
			}
			ne.PutUint16(p[10:], uint16(n-1)) // its last (highest) id is lost
		}, `page \d+: neither reachable nor in freelist page PAGE`, func(l layout) int { return l.freelist }},
		{"freelist id out of range", true, func(t *testing.T, b []byte, l layout) {
			ne.PutUint64(in(b, l, l.freelist, 16), 1)
		}, `freelist page PAGE: free page 1 out of range`, func(l layout) int { return l.freelist }},
		{"both meta checksums wrong", false, func(t *testing.T, b []byte, l layout) {
			b[16+40]++
			b[l.pageSize+16+40]++
		}, `has no valid meta page .*checksum mismatch`, func(l layout) int { return 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agentid.db")
			fixture(t, path, 4096, 2000, c.synced)
			l := describe(t, path)
			if err := boltstore.Validate(path); err != nil {
				t.Fatalf("Validate of the undamaged fixture: %v", err)
			}
			if c.synced && l.freelist == 0 {
				t.Fatal("the fixture has no freelist page")
			}
			edit(t, path, func(b []byte) { c.damage(t, b, l) })
			want := regexp.MustCompile(strings.NewReplacer("PAGE", strconv.Itoa(c.page(l)), "PSIZE2", strconv.Itoa(2*l.pageSize)).Replace(c.want))
			err := boltstore.Validate(path)
			if !errors.Is(err, boltstore.ErrDamaged) || !want.MatchString(err.Error()) {
				t.Fatalf("Validate: %v\nwant ErrDamaged matching %q", err, want)
			}
			if err := boltstore.ValidateUnmapped(path); !errors.Is(err, boltstore.ErrDamaged) || !want.MatchString(err.Error()) {
				t.Fatalf("Validate reading page by page: %v\nwant ErrDamaged matching %q", err, want)
			}
			st, err := boltstore.Open(path, nil)
			if err == nil {
				st.Close()
			}
			if !errors.Is(err, boltstore.ErrDamaged) || !want.MatchString(err.Error()) {
				t.Fatalf("Open: %v\nwant ErrDamaged matching %q", err, want)
			}
		})
	}
}

// TestValidateAcceptsWhatBboltWrites: files bbolt writes, in every page
// size and freelist mode and after reopening through Open, pass; and
// bbolt's own check agrees that they are sound.
func TestValidateAcceptsWhatBboltWrites(t *testing.T) {
	for _, ps := range []int{1024, 4096, 16384} {
		for _, synced := range []bool{false, true} {
			for _, keys := range []int{0, 10, 3000} {
				path := filepath.Join(t.TempDir(), "agentid.db")
				fixture(t, path, ps, keys, synced)
				if err := boltstore.Validate(path); err != nil {
					t.Errorf("page size %d, freelist synced %v, %d keys: %v", ps, synced, keys, err)
					continue
				}
				if err := boltstore.ValidateUnmapped(path); err != nil {
					t.Errorf("page by page: page size %d, freelist synced %v, %d keys: %v", ps, synced, keys, err)
				}
				st, err := boltstore.Open(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
				if err := boltstore.Validate(path); err != nil {
					t.Errorf("after Open: page size %d, freelist synced %v, %d keys: %v", ps, synced, keys, err)
				}
			}
		}
	}
}

// FuzzValidate damages a small real database (1 KiB pages) at random and
// asserts that Validate never panics, and that whenever it accepts a file
// bbolt opens it (read-write, as Open does, which rebuilds the freelist by
// walking every page in a goroutine of its own), walks every bucket and
// value, and finds nothing wrong with its own check, without a panic or a
// fault.
func FuzzValidate(f *testing.F) {
	dir := f.TempDir()
	base := filepath.Join(dir, "base.db")
	fixture(f, base, 1024, 60, true)
	synced, err := os.ReadFile(base)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), []byte{}, false)
	f.Add(uint32(2*1024+8), []byte{0xFF, 0xFF}, false)
	f.Add(uint32(3*1024), make([]byte, 1024), true)
	f.Add(uint32(5*1024+16), []byte{1, 0, 0, 0, 9, 9}, true)
	f.Add(uint32(1024+16+40), []byte{7}, false)
	os.Remove(base)
	fixture(f, base, 1024, 60, false)
	unsynced, err := os.ReadFile(base)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, off uint32, patch []byte, useSynced bool) {
		b := bytes.Clone(unsynced)
		if useSynced {
			b = bytes.Clone(synced)
		}
		at := int(off) % (len(b) + 1)
		b = append(b[:at], append(patch, b[min(at+len(patch), len(b)):]...)...)
		path := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		err := boltstore.Validate(path)
		if err != nil {
			if !errors.Is(err, boltstore.ErrDamaged) && !errors.Is(err, boltstore.ErrEmpty) {
				t.Fatalf("Validate: %v, want ErrDamaged", err)
			}
			return
		}
		walkBbolt(t, path)
	})
}

// walkBbolt opens path as Open does and reads every bucket, key and value,
// then runs bbolt's own check. A fault becomes a panic, and a panic in this
// goroutine a failure; a panic in one of bbolt's goroutines crashes the
// fuzzer, which reports it too.
func walkBbolt(t *testing.T, path string) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Validate accepted a file bbolt panics on: %v", r)
		}
	}()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return // an error is fine; a panic is not
	}
	defer db.Close()
	var walk func(b *bbolt.Bucket) error
	walk = func(b *bbolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if c := b.Bucket(k); c != nil {
					return walk(c)
				}
			}
			_ = bytes.Count(v, []byte{0})
			return nil
		})
	}
	err = db.View(func(tx *bbolt.Tx) error {
		if err := tx.ForEach(func(_ []byte, b *bbolt.Bucket) error { return walk(b) }); err != nil {
			return err
		}
		for err := range tx.Check() {
			return fmt.Errorf("bbolt's check: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Validate accepted a file bbolt finds damaged: %v", err)
	}
}
