package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
)

// Validate checks, without opening it with bbolt, that the file at path is
// a whole, structurally sound bbolt database, so that bbolt can neither
// fault on it nor panic (bbolt panics on a damaged page, sometimes in a
// goroutine of its own where no recover can reach it). It reads the file
// itself and checks:
//
//   - the meta pages: bbolt's magic, version and checksum, chosen as bbolt
//     chooses them (the page size from the first valid one, then the valid
//     one with the higher transaction id); the file as long as that meta
//     page says (a truncated file would fault when bbolt maps it);
//   - the freelist page and its overflow, when the freelist is persisted:
//     its flags, its count inside the page, every free page id in range,
//     sorted-once (no duplicates) and not reachable;
//   - every page reachable from the root bucket, nested buckets included
//     (a bucket's root page, or its inline page inside the leaf value):
//     the page id written in the page is its position, the flags are a
//     branch or leaf page, the page and its overflow lie below the
//     high-water mark, no page is reached twice (no cycle, no shared
//     page), the element array and every key and value lie inside the
//     page and its overflow, a branch has at least one element, and keys
//     are in the order bbolt's own check demands (sorted within a page,
//     within the bounds the parent branch sets).
//
// It returns nil, an error wrapping os.ErrNotExist, ErrEmpty for a 0-byte
// file, or an error wrapping ErrDamaged that names the page and what is
// wrong with it. With a persisted freelist, a page neither reachable nor
// free is refused too, as bbolt's own check (tx.Check) does. It does not
// check the contents of values.
//
// It reads every reachable page once: its cost grows with the file (see
// BenchmarkValidate).
func Validate(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: %s", ErrEmpty, path)
	}
	if err := checkFile(f, fi.Size()); err != nil {
		return validateError(path, err)
	}
	return nil
}

func validateError(path string, err error) error {
	var rerr *ioError
	if errors.As(err, &rerr) {
		return fmt.Errorf("boltstore: %s: %w", path, rerr.err)
	}
	if errors.Is(err, errNoMeta) || errors.Is(err, errTruncated) {
		return fmt.Errorf("%w: %s %v", ErrDamaged, path, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
}

// checkFile checks f, mapped read-only into memory where it can be (no
// system call or copy per page: a third of the time of reading it page by
// page). A fault on the mapping (the file truncated meanwhile, an I/O
// error) becomes an error, not a crash.
func checkFile(f *os.File, size int64) (err error) {
	mem, unmap := mapFile(f, size)
	if mem == nil {
		return check(f, size, nil)
	}
	defer unmap()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &ioError{fmt.Errorf("fault reading the mapped file: %v", r)}
		}
	}()
	return check(f, size, mem)
}

// bbolt's on-disk format (go.etcd.io/bbolt internal/common), in native
// byte order:
//
//	page header (16): id u64, flags u16, count u16, overflow u32
//	meta (after the header): magic u32, version u32, pageSize u32,
//	  flags u32, root bucket {root u64, sequence u64}, freelist u64,
//	  pgid u64 (high-water mark), txid u64, checksum u64 (FNV-64a of the
//	  56 bytes before it)
//	branch element (16): pos u32, ksize u32, pgid u64
//	leaf element (16): flags u32, pos u32, ksize u32, vsize u32
//	  (pos is counted from the element itself; flag 1 marks a bucket,
//	  whose value is {root u64, sequence u64} followed, when root is 0,
//	  by an inline leaf page)
//	freelist: count u16 in the header, or 0xFFFF and the count in the
//	  first u64; then that many page ids u64
const (
	boltMagic    = 0xED0CDAED
	boltVersion  = 2
	pageHeader   = 16
	metaSumLen   = 56
	elemSize     = 16
	bucketHeader = 16
	branchFlag   = 0x01
	leafFlag     = 0x02
	metaFlag     = 0x04
	freelistFlag = 0x10
	bucketLeaf   = 0x01
	noFreelist   = ^uint64(0)
	maxDepth     = 10000 // pages and buckets nested deeper are refused; bounds the recursion
)

var (
	errNoMeta    = errors.New("has no valid meta page")
	errTruncated = errors.New("is truncated")
)

// ioError is a failure to read the file, not damage in it.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }

var native = binary.NativeEndian

// meta is the part of a meta page Validate uses.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

func readMeta(r io.ReaderAt, off int64) (meta, error) {
	var b [pageHeader + metaSumLen + 8]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return meta{}, fmt.Errorf("meta page at %d: %v", off, err)
	}
	m := b[pageHeader:]
	if native.Uint32(m[0:]) != boltMagic {
		return meta{}, fmt.Errorf("meta page at %d: no bbolt magic", off)
	}
	if v := native.Uint32(m[4:]); v != boltVersion {
		return meta{}, fmt.Errorf("meta page at %d: version %d", off, v)
	}
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if h.Sum64() != native.Uint64(m[metaSumLen:]) {
		return meta{}, fmt.Errorf("meta page at %d: checksum mismatch", off)
	}
	ps := native.Uint32(m[8:])
	if ps < 512 || ps&(ps-1) != 0 {
		return meta{}, fmt.Errorf("meta page at %d: page size %d", off, ps)
	}
	return meta{
		pageSize: ps,
		root:     native.Uint64(m[16:]),
		freelist: native.Uint64(m[32:]),
		pgid:     native.Uint64(m[40:]),
		txid:     native.Uint64(m[48:]),
	}, nil
}

// checker walks the pages of one file.
type checker struct {
	r    io.ReaderAt
	mem  []byte // the file mapped, or nil: read through r
	ps   uint64 // page size
	hwm  uint64 // high-water mark: pages [0, hwm) exist
	seen []uint64
	free []uint64
}

func check(r io.ReaderAt, size int64, mem []byte) error {
	// The page size, as bbolt finds it: from the first meta page if it is
	// valid, else from a valid meta page at 1 KiB << i.
	m0, err0 := readMeta(r, 0)
	ps := int64(m0.pageSize)
	if err0 != nil {
		ps = 0
		for i := range 15 {
			pos := int64(1024) << i
			if pos >= size-1024 {
				break
			}
			if m, err := readMeta(r, pos); err == nil {
				ps = int64(m.pageSize)
				break
			}
		}
		if ps == 0 {
			return fmt.Errorf("%w (%v)", errNoMeta, err0)
		}
	}
	m1, err1 := readMeta(r, ps)
	// bbolt uses the meta page with the higher transaction id if it is
	// valid, else the other.
	var m meta
	var at uint64
	switch {
	case err0 == nil && (err1 != nil || m0.txid >= m1.txid):
		m, at = m0, 0
	case err1 == nil:
		m, at = m1, 1
	default:
		return fmt.Errorf("%w (%v; %v)", errNoMeta, err0, err1)
	}
	if int64(m.pageSize) != ps {
		return fmt.Errorf("meta page %d: page size %d, but the file's is %d", at, m.pageSize, ps)
	}
	if m.pgid > uint64(size)/uint64(ps) {
		return fmt.Errorf("%w: %d bytes, its meta page needs %d", errTruncated, size, m.pgid*uint64(ps))
	}
	if size%ps != 0 {
		return fmt.Errorf("%w: %d bytes is not a whole number of %d-byte pages", errTruncated, size, ps)
	}
	c := &checker{r: r, mem: mem, ps: uint64(ps), hwm: m.pgid}
	c.seen = make([]uint64, (m.pgid+63)/64)
	// Both meta pages' headers (outside the checksum), which bbolt's own
	// check asserts: written whole with each meta, they are never torn.
	for id := range uint64(2) {
		hdr, err := c.read(id, 0)
		if err != nil {
			return err
		}
		if flags := native.Uint16(hdr[8:]); flags != metaFlag {
			return fmt.Errorf("meta page %d: flags %#x, want a meta page", id, flags)
		}
	}
	if m.pgid < 3 {
		return fmt.Errorf("meta page %d: high-water mark %d leaves no room for a root page", at, m.pgid)
	}
	c.mark(0)
	c.mark(1)
	var freeIDs []uint64
	var err error
	if m.freelist != noFreelist {
		if freeIDs, err = c.freelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root < 2 || m.root >= m.pgid {
		return fmt.Errorf("meta page %d: root bucket page %d out of range [2, %d)", at, m.root, m.pgid)
	}
	if _, err := c.tree(m.root, nil, nil, 0); err != nil {
		return err
	}
	if m.freelist == noFreelist {
		return nil // bbolt rebuilds the freelist: every unreachable page is free
	}
	free := make([]uint64, len(c.seen))
	for _, id := range freeIDs {
		if c.marked(id) {
			return fmt.Errorf("freelist page %d: page %d is free and reachable", m.freelist, id)
		}
		free[id/64] |= 1 << (id % 64)
	}
	// As bbolt's check: with a persisted freelist, a page neither reachable
	// nor free is a page the tree lost.
	for id := uint64(2); id < m.pgid; id++ {
		if !c.marked(id) && free[id/64]&(1<<(id%64)) == 0 {
			return fmt.Errorf("page %d: neither reachable nor in freelist page %d", id, m.freelist)
		}
	}
	return nil
}

// read reads page id and its overflow. It checks the range, the page id
// written in the page and, unless want is 0, that the flags are one of
// the flags in want.
func (c *checker) read(id uint64, want uint16) ([]byte, error) {
	if id >= c.hwm {
		return nil, fmt.Errorf("page %d: beyond the high-water mark %d", id, c.hwm)
	}
	buf, err := c.bytes(id, 1)
	if err != nil {
		return nil, err
	}
	if got := native.Uint64(buf); got != id {
		return nil, fmt.Errorf("page %d: its header says page %d", id, got)
	}
	flags := native.Uint16(buf[8:])
	if want != 0 && (flags == 0 || flags&(flags-1) != 0 || flags&^want != 0) {
		return nil, fmt.Errorf("page %d: flags %#x, want %s", id, flags, flagNames(want))
	}
	over := uint64(native.Uint32(buf[12:]))
	if over == 0 {
		return buf, nil
	}
	if over >= c.hwm-id {
		return nil, fmt.Errorf("page %d: overflow of %d pages runs past the high-water mark %d", id, over, c.hwm)
	}
	return c.bytes(id, over+1)
}

// bytes returns n pages from page id on (below the high-water mark, so
// inside the file).
func (c *checker) bytes(id, n uint64) ([]byte, error) {
	off, end := id*c.ps, (id+n)*c.ps
	if c.mem != nil {
		return c.mem[off:end:end], nil
	}
	buf := make([]byte, end-off)
	if _, err := c.r.ReadAt(buf, int64(off)); err != nil {
		return nil, &ioError{fmt.Errorf("read page %d: %w", id, err)}
	}
	return buf, nil
}

func flagNames(f uint16) string {
	switch f {
	case freelistFlag:
		return "a freelist page"
	case branchFlag | leafFlag:
		return "a branch or leaf page"
	}
	return fmt.Sprintf("%#x", f)
}

// claim marks page id and its overflow as reached, refusing a page reached
// before.
func (c *checker) claim(id uint64, n uint64) error {
	for p := id; p < id+n; p++ {
		if c.marked(p) {
			if p == id {
				return fmt.Errorf("page %d: reached twice (a cycle or a shared page)", id)
			}
			return fmt.Errorf("page %d: its overflow covers page %d, which is reached elsewhere", id, p)
		}
		c.mark(p)
	}
	return nil
}

func (c *checker) mark(id uint64)        { c.seen[id/64] |= 1 << (id % 64) }
func (c *checker) marked(id uint64) bool { return c.seen[id/64]&(1<<(id%64)) != 0 }

func (c *checker) freelist(id uint64) ([]uint64, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("freelist page %d out of range [2, %d)", id, c.hwm)
	}
	p, err := c.read(id, freelistFlag)
	if err != nil {
		return nil, fmt.Errorf("freelist %w", err)
	}
	if err := c.claim(id, uint64(len(p))/c.ps); err != nil {
		return nil, fmt.Errorf("freelist %w", err)
	}
	start, n := uint64(pageHeader), uint64(native.Uint16(p[10:]))
	if n == 0xFFFF {
		if len(p) < pageHeader+8 {
			return nil, fmt.Errorf("freelist page %d: no room for its count", id)
		}
		n = native.Uint64(p[pageHeader:])
		start += 8
	}
	if room := (uint64(len(p)) - start) / 8; n > room {
		return nil, fmt.Errorf("freelist page %d: %d ids, room for %d", id, n, room)
	}
	ids := make([]uint64, n)
	dup := make([]uint64, len(c.seen))
	for i := range ids {
		f := native.Uint64(p[start+uint64(i)*8:])
		if f < 2 || f >= c.hwm {
			return nil, fmt.Errorf("freelist page %d: free page %d out of range [2, %d)", id, f, c.hwm)
		}
		if dup[f/64]&(1<<(f%64)) != 0 {
			return nil, fmt.Errorf("freelist page %d: page %d freed twice", id, f)
		}
		dup[f/64] |= 1 << (f % 64)
		ids[i] = f
	}
	return ids, nil
}

// tree checks the B+tree rooted at page id, every key in it within
// [lo, hi) (nil: unbounded), and every bucket nested in its leaves. It
// returns the largest key in the tree, as bbolt's check does.
func (c *checker) tree(id uint64, lo, hi []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("page %d: pages and buckets nested more than %d deep", id, maxDepth)
	}
	p, err := c.read(id, branchFlag|leafFlag)
	if err != nil {
		return nil, err
	}
	if err := c.claim(id, uint64(len(p))/c.ps); err != nil {
		return nil, err
	}
	n := int(native.Uint16(p[10:]))
	if native.Uint16(p[8:]) == branchFlag {
		if n == 0 {
			return nil, fmt.Errorf("page %d (branch): no elements", id)
		}
		keys, err := elements(p, n, false)
		if err != nil {
			return nil, fmt.Errorf("page %d (branch): %v", id, err)
		}
		// Bounds as bbolt's check sets them: element i's key is at least
		// the largest key under element i-1 (and lo), and below hi; the
		// subtree under it is within [key i, key i+1).
		var max []byte
		run := lo
		for i, k := range keys {
			if err := keyOrder(k.key, i, run, hi); err != nil {
				return nil, fmt.Errorf("page %d (branch): element %d: %v", id, i, err)
			}
			next := hi
			if i+1 < len(keys) {
				next = keys[i+1].key
			}
			if max, err = c.tree(k.child, k.key, next, depth+1); err != nil {
				return nil, err
			}
			run = max
		}
		return max, nil
	}
	keys, err := elements(p, n, true)
	if err != nil {
		return nil, fmt.Errorf("page %d (leaf): %v", id, err)
	}
	for i, k := range keys {
		if err := keyOrder(k.key, i, prevKey(keys, i, lo), hi); err != nil {
			return nil, fmt.Errorf("page %d (leaf): element %d: %v", id, i, err)
		}
		if k.bucket {
			if err := c.bucket(k.value, depth+1); err != nil {
				return nil, fmt.Errorf("%v (bucket at page %d element %d)", err, id, i)
			}
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return keys[len(keys)-1].key, nil
}

func prevKey(keys []elem, i int, lo []byte) []byte {
	if i == 0 {
		return lo
	}
	return keys[i-1].key
}

// keyOrder is bbolt's verifyKeyOrder: the first key at least prev, later
// keys above prev, every key below hi.
func keyOrder(k []byte, i int, prev, hi []byte) error {
	if prev != nil {
		c := bytes.Compare(prev, k)
		if i == 0 && c > 0 {
			return fmt.Errorf("key %x below the bound %x its parent sets", k, prev)
		}
		if i > 0 && c >= 0 {
			return fmt.Errorf("key %x not above the key before it, %x", k, prev)
		}
	}
	if hi != nil && bytes.Compare(k, hi) >= 0 {
		return fmt.Errorf("key %x not below the bound %x its parent sets", k, hi)
	}
	return nil
}

// bucket checks a nested bucket from its leaf value.
func (c *checker) bucket(v []byte, depth int) error {
	if len(v) < bucketHeader {
		return fmt.Errorf("bucket value of %d bytes, shorter than its %d-byte header", len(v), bucketHeader)
	}
	root := native.Uint64(v)
	if root != 0 {
		if root < 2 || root >= c.hwm {
			return fmt.Errorf("bucket root page %d out of range [2, %d)", root, c.hwm)
		}
		_, err := c.tree(root, nil, nil, depth)
		return err
	}
	// An inline bucket: a leaf page inside the value. bbolt writes one only
	// for a bucket holding no buckets.
	p := v[bucketHeader:]
	if len(p) < pageHeader {
		return fmt.Errorf("inline bucket of %d bytes, shorter than a page header", len(p))
	}
	if f := native.Uint16(p[8:]); f != leafFlag {
		return fmt.Errorf("inline bucket page: flags %#x, want a leaf page", f)
	}
	keys, err := elements(p, int(native.Uint16(p[10:])), true)
	if err != nil {
		return fmt.Errorf("inline bucket page: %v", err)
	}
	for i, k := range keys {
		if err := keyOrder(k.key, i, prevKey(keys, i, nil), nil); err != nil {
			return fmt.Errorf("inline bucket page: element %d: %v", i, err)
		}
		if k.bucket {
			return fmt.Errorf("inline bucket page: element %d is a bucket", i)
		}
	}
	return nil
}

type elem struct {
	key, value []byte
	child      uint64 // branch
	bucket     bool   // leaf
}

// elements decodes the n elements of a branch or leaf page p, checking
// that every element, key and value lies inside p.
func elements(p []byte, n int, leaf bool) ([]elem, error) {
	size := uint64(len(p))
	if end := uint64(pageHeader) + uint64(n)*elemSize; end > size {
		return nil, fmt.Errorf("%d elements need %d bytes, the page has %d", n, end, size)
	}
	out := make([]elem, n)
	for i := range out {
		at := uint64(pageHeader) + uint64(i)*elemSize
		e := p[at : at+elemSize]
		var pos, ksize, vsize uint64
		if leaf {
			flags := native.Uint32(e)
			if flags&^bucketLeaf != 0 {
				return nil, fmt.Errorf("element %d: flags %#x", i, flags)
			}
			out[i].bucket = flags == bucketLeaf
			pos, ksize, vsize = uint64(native.Uint32(e[4:])), uint64(native.Uint32(e[8:])), uint64(native.Uint32(e[12:]))
		} else {
			pos, ksize = uint64(native.Uint32(e)), uint64(native.Uint32(e[4:]))
			out[i].child = native.Uint64(e[8:])
		}
		k := at + pos
		if end := k + ksize + vsize; end > size {
			return nil, fmt.Errorf("element %d: key and value end at byte %d, the page has %d", i, end, size)
		}
		out[i].key = p[k : k+ksize : k+ksize]
		if leaf {
			out[i].value = p[k+ksize : k+ksize+vsize : k+ksize+vsize]
		}
	}
	return out, nil
}
