package publish

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/internal/recordmac"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
)

// Purpose is statuslist.Purpose.
type Purpose = statuslist.Purpose

// The status purposes agentid uses.
const (
	Revocation = statuslist.Revocation
	Suspension = statuslist.Suspension
)

// DefaultTTL is the ttl written into list credentials when Options.TTL is 0.
const DefaultTTL = 5 * time.Minute

// Bucket names. Everything this package stores lives under these, so that
// it can share the issuer's store.
const (
	bucketLists   = "statuslist/lists"   // listKey -> listMeta
	bucketBits    = "statuslist/bits"    // listKey -> bitstring bytes (absent: all zero)
	bucketCurrent = "statuslist/current" // purpose -> uint32 n of the list being filled
)

// Options configure a Store. The zero value of every field but BaseURL is a
// usable default.
type Options struct {
	// BaseURL is the issuer's public URL, such as "https://issuer.example"
	// or "http://localhost:8080". Lists are published at
	// <BaseURL>/status/<purpose>/<n>. It must not change while credentials
	// that name it are live: the URL is part of every status entry.
	BaseURL string
	// Size is the number of entries in each new list: statuslist.MinSize by default;
	// smaller values are refused. It is rounded up to a multiple of 8.
	// Existing lists keep the size they were created with.
	Size int
	// TTL is the time to live advertised in each list credential (the ttl
	// member, in milliseconds, and Cache-Control max-age), DefaultTTL by
	// default. It bounds how long a verifier without the change feed can
	// keep accepting a revoked credential.
	TTL time.Duration
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// RecordsKey authenticates the stored records (list meta, bits,
	// current list) with a MAC bound to bucket and key
	// (keystore.IntegrityKeys.Records); a record that fails it is refused
	// with an error wrapping ErrTampered. Nil stores records unauthenticated,
	// as earlier releases did.
	RecordsKey []byte

	// minSize overrides statuslist.MinSize so that tests can fill a list; it is not
	// settable outside the package.
	minSize int
}

// Store allocates status list indexes and keeps the status bits, in the
// issuer's store. All its state is there; a Store may be reopened at any
// time, and two Stores on one database are safe (writers are serialised),
// though only one should publish.
type Store struct {
	db   store.Store
	seal *recordmac.Sealer
	// verified holds the records whose MAC verified: see get.
	verified  sync.Map
	verifiedN atomic.Int64
	base      string // BaseURL without a trailing slash
	prefix    string // base + "/status/"
	size      int
	ttl       time.Duration
	now       func() time.Time
	mu        sync.Mutex
	watches   []func(listURL string, purpose Purpose)
}

// Open returns a Store keeping its state in db.
func Open(db store.Store, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("statuslist: nil database")
	}
	base, err := checkBaseURL(opts.BaseURL)
	if err != nil {
		return nil, err
	}
	min := statuslist.MinSize
	if opts.minSize > 0 {
		min = opts.minSize
	}
	size := opts.Size
	if size == 0 {
		size = statuslist.MinSize
	}
	if size < min {
		return nil, fmt.Errorf("statuslist: list size %d is below the minimum of %d", size, min)
	}
	if int64(size) > 1<<31 {
		return nil, fmt.Errorf("statuslist: list size %d is too large", size)
	}
	size = (size + 7) &^ 7
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("statuslist: ttl %v is under one second", ttl)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var seal *recordmac.Sealer
	if opts.RecordsKey != nil {
		if seal, err = recordmac.New(opts.RecordsKey); err != nil {
			return nil, fmt.Errorf("statuslist: %w", err)
		}
	}
	return &Store{db: db, seal: seal, base: base, prefix: base + "/status/", size: size, ttl: ttl, now: now}, nil
}

func checkBaseURL(s string) (string, error) {
	s = strings.TrimRight(s, "/")
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("statuslist: base URL %q is not an absolute http(s) URL without query or fragment", s)
	}
	return s, nil
}

// TTL returns the time to live advertised in list credentials.
func (s *Store) TTL() time.Duration { return s.ttl }

// ListURL returns the URL of list n of a purpose.
func (s *Store) ListURL(p Purpose, n uint32) string {
	return s.prefix + string(p) + "/" + strconv.FormatUint(uint64(n), 10)
}

// parseListURL is the inverse of ListURL.
func (s *Store) parseListURL(u string) (Purpose, uint32, error) {
	rest, ok := strings.CutPrefix(u, s.prefix)
	if !ok {
		return "", 0, ErrUnknownList
	}
	p, ns, ok := strings.Cut(rest, "/")
	if !ok || !Purpose(p).Valid() {
		return "", 0, ErrUnknownList
	}
	n, ok := statuslist.ParseIndex(ns)
	if !ok || uint64(n) > math.MaxUint32 {
		return "", 0, ErrUnknownList
	}
	return Purpose(p), uint32(n), nil
}

func listKey(p Purpose, n uint32) []byte {
	k := make([]byte, 0, len(p)+5)
	k = append(k, p...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, n)
}

// listMeta is the allocation state of one list: its size, how many indexes
// have been handed out, and the permutation key.
type listMeta struct {
	size    uint32
	counter uint32
	key     [32]byte
}

const metaVersion = 1

func (m *listMeta) marshal() []byte {
	b := make([]byte, 0, 1+4+4+32)
	b = append(b, metaVersion)
	b = binary.BigEndian.AppendUint32(b, m.size)
	b = binary.BigEndian.AppendUint32(b, m.counter)
	return append(b, m.key[:]...)
}

func unmarshalMeta(b []byte) (*listMeta, error) {
	if len(b) != 41 || b[0] != metaVersion {
		return nil, errors.New("statuslist: corrupt list record")
	}
	m := &listMeta{size: binary.BigEndian.Uint32(b[1:]), counter: binary.BigEndian.Uint32(b[5:])}
	copy(m.key[:], b[9:])
	if m.size == 0 || m.size%8 != 0 || m.counter > m.size {
		return nil, errors.New("statuslist: corrupt list record")
	}
	return m, nil
}

func (s *Store) getMeta(tx store.Tx, p Purpose, n uint32) (*listMeta, error) {
	v, err := s.get(tx, bucketLists, listKey(p, n))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, ErrUnknownList
	}
	return unmarshalMeta(v)
}

// get reads and authenticates one record; nil when absent.
//
// Every verification reads two bitstring records of 16 KiB: a MAC over
// each would cost more than the rest of the status check. So the stored
// bytes whose MAC verified are kept, per record, and a read of the very
// same bytes (compared in full) skips the MAC; any change, by this
// process or in the file, is verified afresh.
func (s *Store) get(tx store.Tx, bucket string, key []byte) ([]byte, error) {
	v := tx.Bucket(bucket).Get(key)
	if v == nil {
		return nil, nil
	}
	ck := bucket + "\x00" + string(key)
	if c, ok := s.verified.Load(ck); ok {
		if vr := c.(*verifiedRecord); bytes.Equal(vr.sealed, v) {
			return v[vr.offset:], nil
		}
	}
	out, err := s.seal.Open(bucket, key, v)
	if err != nil {
		return nil, fmt.Errorf("statuslist: record %s/%q: %w: %w", bucket, key, ErrTampered, err)
	}
	if s.verifiedN.Load() < maxVerified {
		if _, loaded := s.verified.Swap(ck, &verifiedRecord{sealed: bytes.Clone(v), offset: len(v) - len(out)}); !loaded {
			s.verifiedN.Add(1)
		}
	}
	return out, nil
}

// verifiedRecord is a stored record whose MAC verified, and where its
// payload starts.
type verifiedRecord struct {
	sealed []byte
	offset int
}

// maxVerified bounds the records kept by get (two a list).
const maxVerified = 4096

// put seals and writes one record.
func (s *Store) put(tx store.Tx, bucket string, key, val []byte) error {
	return tx.Bucket(bucket).Put(key, s.seal.Seal(bucket, key, val))
}

// SealRecordsTx authenticates every record written before record MACs
// (the upgrade of a data directory), inside the caller's write
// transaction, and returns how many it sealed. A record already sealed
// must verify; one that does not fails the migration with ErrTampered.
func (s *Store) SealRecordsTx(tx store.Tx) (int, error) {
	if !s.seal.Keyed() {
		return 0, errors.New("statuslist: seal records: no records key")
	}
	n := 0
	for _, bucket := range []string{bucketLists, bucketBits, bucketCurrent} {
		type kv struct{ k, v []byte }
		var todo []kv
		err := tx.Bucket(bucket).Range(nil, func(k, v []byte) error {
			if recordmac.IsSealed(v) {
				if _, err := s.seal.Open(bucket, k, v); err != nil {
					return fmt.Errorf("statuslist: record %s/%q: %w: %w", bucket, k, ErrTampered, err)
				}
				return nil
			}
			todo = append(todo, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			return nil
		})
		if err != nil {
			return n, err
		}
		for _, r := range todo {
			if err := s.put(tx, bucket, r.k, r.v); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// AllocateTx allocates a fresh index in the current list of purpose p, inside
// the caller's write transaction, and returns the credentialStatus entry for
// it. The allocation commits or rolls back with tx, so the index belongs to
// the credential written in the same transaction, and an index that was
// committed is never handed out again, across restarts and crashes. When the
// current list is full a new one is opened.
//
// Indexes are the images of a per-list counter under a keyed pseudorandom
// permutation, so they are distinct and spread uniformly over the list.
func (s *Store) AllocateTx(tx store.Tx, p Purpose) (vc.StatusEntry, error) {
	if !p.Valid() {
		return vc.StatusEntry{}, ErrUnknownPurpose
	}
	if !tx.Writable() {
		return vc.StatusEntry{}, ErrReadOnlyTx
	}
	lists := tx.Bucket(bucketLists)
	var n uint32
	var m *listMeta
	curV, err := s.get(tx, bucketCurrent, []byte(p))
	if err != nil {
		return vc.StatusEntry{}, err
	}
	if v := curV; v != nil {
		if len(v) != 4 {
			return vc.StatusEntry{}, errors.New("statuslist: corrupt current-list record")
		}
		n = binary.BigEndian.Uint32(v)
		var err error
		if m, err = s.getMeta(tx, p, n); err != nil {
			return vc.StatusEntry{}, err
		}
		if m.counter >= m.size {
			if n == 1<<32-1 {
				return vc.StatusEntry{}, errors.New("statuslist: out of lists")
			}
			n, m = n+1, nil
		}
	}
	if m == nil {
		// Open list n. A list number is never reused: n only grows.
		m = &listMeta{size: uint32(s.size)}
		if _, err := rand.Read(m.key[:]); err != nil {
			return vc.StatusEntry{}, fmt.Errorf("statuslist: %w", err)
		}
		if lists.Get(listKey(p, n)) != nil {
			return vc.StatusEntry{}, errors.New("statuslist: corrupt store: list exists beyond the current one")
		}
		if err := s.put(tx, bucketCurrent, []byte(p), binary.BigEndian.AppendUint32(nil, n)); err != nil {
			return vc.StatusEntry{}, err
		}
	}
	idx := newPermutation(m.key[:], int(m.size)).Permute(uint64(m.counter))
	m.counter++
	if err := s.put(tx, bucketLists, listKey(p, n), m.marshal()); err != nil {
		return vc.StatusEntry{}, err
	}
	u := s.ListURL(p, n)
	is := strconv.FormatUint(idx, 10)
	// No id: it is optional, and "not used during the verification or
	// validation process" (Bitstring Status List v1.0 §2.1); leaving it
	// out makes every credential about 55 bytes shorter an entry, which
	// a delegated credential, carrying two entries per ancestor, feels
	// most (docs/decisions.md, "Status entries carry no id").
	return vc.StatusEntry{
		Type:                 statuslist.EntryType,
		StatusPurpose:        string(p),
		StatusListIndex:      is,
		StatusListCredential: u,
	}, nil
}

// ref is a parsed entry of this store.
type ref struct {
	purpose Purpose
	n       uint32
	index   int
	url     string
}

// resolveTx checks an entry against this store's lists. With allocated
// set it also proves the index was handed out (inverting the index
// permutation), which a write needs; a read of a signed credential's entry
// can skip that work, since only this issuer could have signed it.
func (s *Store) resolveTx(tx store.Tx, e vc.StatusEntry, allocated bool) (ref, *listMeta, error) {
	p, n, err := s.parseListURL(e.StatusListCredential)
	if err != nil {
		return ref{}, nil, fmt.Errorf("%w: list URL %q", ErrUnknownEntry, e.StatusListCredential)
	}
	if string(p) != e.StatusPurpose {
		return ref{}, nil, fmt.Errorf("%w: statusPurpose %q disagrees with the list URL", ErrUnknownEntry, e.StatusPurpose)
	}
	if e.Type != "" && e.Type != statuslist.EntryType {
		return ref{}, nil, fmt.Errorf("%w: type %q", ErrUnknownEntry, e.Type)
	}
	idx, ok := statuslist.ParseIndex(e.StatusListIndex)
	if !ok {
		return ref{}, nil, fmt.Errorf("%w: statusListIndex %q", ErrUnknownEntry, e.StatusListIndex)
	}
	m, err := s.getMeta(tx, p, n)
	if err != nil {
		if errors.Is(err, ErrUnknownList) {
			return ref{}, nil, fmt.Errorf("%w: %w", ErrUnknownEntry, err)
		}
		return ref{}, nil, err
	}
	if idx >= int(m.size) {
		return ref{}, nil, fmt.Errorf("%w: index %d is out of range", ErrUnknownEntry, idx)
	}
	// The index was handed out iff its preimage is below the counter.
	if allocated && newPermutation(m.key[:], int(m.size)).Invert(uint64(idx)) >= uint64(m.counter) {
		return ref{}, nil, fmt.Errorf("%w: index %d was never allocated", ErrUnknownEntry, idx)
	}
	return ref{purpose: p, n: n, index: idx, url: e.StatusListCredential}, m, nil
}

// SetTx sets (set true) or clears (set false) the status bit of entry e
// inside the caller's write transaction. Clearing a revocation bit fails with
// ErrIrreversible; an entry this store did not issue fails with
// ErrUnknownEntry. When tx commits and the bit changed, the list is marked
// for re-signing (through tx.OnCommit), so a Publisher serves the new list
// and announces it on its Feed.
func (s *Store) SetTx(tx store.Tx, e vc.StatusEntry, set bool) error {
	if !tx.Writable() {
		return ErrReadOnlyTx
	}
	r, m, err := s.resolveTx(tx, e, true)
	if err != nil {
		return err
	}
	if r.purpose == Revocation && !set {
		return ErrIrreversible
	}
	k := listKey(r.purpose, r.n)
	var b []byte
	v, err := s.get(tx, bucketBits, k)
	if err != nil {
		return err
	}
	if v != nil {
		if len(v) != int(m.size)/8 {
			return errors.New("statuslist: corrupt bitstring record")
		}
		if cur, _ := statuslist.FromBytes(v).Get(r.index); cur == set {
			return nil // nothing changes; nothing to publish
		}
		b = make([]byte, len(v))
		copy(b, v)
	} else {
		if !set {
			return nil
		}
		b = make([]byte, m.size/8)
	}
	l := statuslist.FromBytes(b)
	if set {
		_ = l.Set(r.index)
	} else {
		_ = l.Clear(r.index)
	}
	if err := s.put(tx, bucketBits, k, b); err != nil {
		return err
	}
	u, p := r.url, r.purpose
	tx.OnCommit(func() { s.notify(u, p) })
	if a, ok := tx.(store.Announcer); ok {
		// Other processes on a shared store re-sign and announce it too.
		a.Announce(TopicStatus, string(p)+" "+u)
	}
	return nil
}

// Set is SetTx in its own transaction; it returns once the change is
// durable.
func (s *Store) Set(ctx context.Context, e vc.StatusEntry, set bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(ctx, func(tx store.Tx) error { return s.SetTx(tx, e, set) })
}

// Status reports whether the status bit of entry e is set.
func (s *Store) Status(ctx context.Context, e vc.StatusEntry) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var set bool
	err := s.db.View(ctx, func(tx store.Tx) error {
		r, _, err := s.resolveTx(tx, e, false)
		if err != nil {
			return err
		}
		v, err := s.get(tx, bucketBits, listKey(r.purpose, r.n))
		if err != nil {
			return err
		}
		if v != nil {
			set, _ = statuslist.FromBytes(v).Get(r.index)
		}
		return nil
	})
	return set, err
}

// snapshot is a copy of one list's bits, read in one transaction.
type snapshot struct {
	purpose Purpose
	n       uint32
	bits    *statuslist.Bitstring
}

// load reads list u.
func (s *Store) load(ctx context.Context, u string) (*snapshot, error) {
	p, n, err := s.parseListURL(u)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{purpose: p, n: n}
	err = s.db.View(ctx, func(tx store.Tx) error {
		m, err := s.getMeta(tx, p, n)
		if err != nil {
			return err
		}
		b := make([]byte, m.size/8)
		v, err := s.get(tx, bucketBits, listKey(p, n))
		if err != nil {
			return err
		}
		if v != nil {
			if len(v) != len(b) {
				return errors.New("statuslist: corrupt bitstring record")
			}
			copy(b, v)
		}
		snap.bits = statuslist.FromBytes(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// exists reports ErrUnknownList unless list u exists.
func (s *Store) exists(ctx context.Context, u string) error {
	p, n, err := s.parseListURL(u)
	if err != nil {
		return err
	}
	return s.db.View(ctx, func(tx store.Tx) error {
		_, err := s.getMeta(tx, p, n)
		return err
	})
}

// watch registers fn to run after each committed change of a list.
func (s *Store) watch(fn func(listURL string, purpose Purpose)) {
	s.mu.Lock()
	s.watches = append(s.watches, fn)
	s.mu.Unlock()
}

func (s *Store) notify(u string, p Purpose) {
	s.mu.Lock()
	ws := s.watches
	s.mu.Unlock()
	for _, fn := range ws {
		fn(u, p)
	}
}

// TopicStatus is the store.Announcer topic of status bit changes; the
// payload is the purpose, a space and the list URL.
const TopicStatus = "status"

// Changed tells the Store that another process sharing its database
// changed a list: payload is an announcement on TopicStatus. The list is
// marked for re-signing and announced, as a change committed here is.
func (s *Store) Changed(payload string) error {
	ps, u, ok := strings.Cut(payload, " ")
	p, n, err := s.parseListURL(u)
	if !ok || err != nil || string(p) != ps {
		return fmt.Errorf("statuslist: announcement %q names no list of this store", payload)
	}
	_ = n
	s.notify(u, p)
	return nil
}
