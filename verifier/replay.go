package verifier

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// Errors a ReplayCache's Record returns. A verifier refuses the
// presentation as reason.Replayed on either.
var (
	// ErrReplayed: the key is already recorded and unexpired.
	ErrReplayed = errors.New("presentation id already used")
	// ErrReplayFull: the key cannot be recorded, because the cache or the
	// holder's quota is full of unexpired entries. A verifier must fail
	// closed rather than accept a presentation it cannot track.
	ErrReplayFull = errors.New("replay cache cannot record the presentation id")
)

// ReplayCache remembers presentation ids (holder and jti) until they expire,
// so that each presentation is accepted at most once.
//
// A verifier asks Seen early, to refuse a replay cheaply, and calls Record
// only once the holder is authenticated beyond its own signature (it holds
// a valid credential, or the issuer knows it as a principal): anyone can
// mint a key and sign a presentation, so nothing is recorded for a
// presentation that is refused. Record is the atomic step: of two
// concurrent uses of one key, exactly one records it.
type ReplayCache interface {
	// Seen reports whether holder's jti is recorded and unexpired. It
	// records nothing.
	Seen(holder, jti string, now time.Time) bool
	// Record records holder's jti, under holder's quota, until exp. It
	// returns nil, ErrReplayed if it is already recorded and unexpired, or
	// ErrReplayFull if it cannot be recorded.
	Record(holder, jti string, exp, now time.Time) error
}

// MemoryReplayCache is a bounded in-memory ReplayCache. Entries are sharded
// by holder, to keep lock contention low, and each holder has a quota of
// unexpired entries, so that one holder cannot take the room of others.
// Entries are dropped once they expire and never before: when a holder's
// quota or a shard is full of unexpired entries, new keys are refused
// (ErrReplayFull).
type MemoryReplayCache struct {
	shards    [64]replayShard
	perMax    int
	perHolder int
}

type replayShard struct {
	mu      sync.Mutex
	holders map[[16]byte]*holderEntries
	n       int // entries in the shard, over all holders
	nextGC  int64
}

type holderEntries struct {
	m map[[16]byte]int64 // key hash -> expiry (Unix ns)
}

// NewMemoryReplayCache returns a replay cache that holds at most size
// entries (default 1,000,000 when size <= 0, about 40 MiB at capacity),
// each holder at most a quarter of a shard's share (size/256, at least 1).
func NewMemoryReplayCache(size int) *MemoryReplayCache {
	return NewMemoryReplayCacheQuota(size, 0)
}

// NewMemoryReplayCacheQuota is NewMemoryReplayCache with an explicit quota:
// at most perHolder unexpired entries per holder (default, when
// perHolder <= 0, a quarter of a shard: size/256, at least 1). A holder's
// presentations beyond its quota within their lifetimes are refused.
func NewMemoryReplayCacheQuota(size, perHolder int) *MemoryReplayCache {
	if size <= 0 {
		size = 1_000_000
	}
	c := &MemoryReplayCache{perMax: size/64 + 1, perHolder: perHolder}
	if c.perHolder <= 0 {
		c.perHolder = max(c.perMax/4, 1)
	}
	for i := range c.shards {
		c.shards[i].holders = make(map[[16]byte]*holderEntries)
	}
	return c
}

func hash16(parts ...string) [16]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var k [16]byte
	copy(k[:], h.Sum(nil))
	return k
}

// Seen implements ReplayCache.
func (c *MemoryReplayCache) Seen(holder, jti string, now time.Time) bool {
	hk, k := hash16(holder), hash16(holder, jti)
	s := &c.shards[hk[0]&63]
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holders[hk]
	if h == nil {
		return false
	}
	exp, ok := h.m[k]
	return ok && exp >= now.UnixNano()
}

// Record implements ReplayCache.
func (c *MemoryReplayCache) Record(holder, jti string, exp, now time.Time) error {
	hk, k := hash16(holder), hash16(holder, jti)
	s := &c.shards[hk[0]&63]
	n, e := now.UnixNano(), exp.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holders[hk]
	if h != nil {
		if old, ok := h.m[k]; ok && old >= n {
			return ErrReplayed
		}
	}
	if s.n >= c.perMax || n >= s.nextGC {
		s.gc(n)
		// When full, sweep at most once a second: a full shard of live
		// entries must not make every call a full scan.
		s.nextGC = n + int64(time.Second)
		if s.n < c.perMax {
			s.nextGC = n + int64(10*time.Second)
		}
		h = s.holders[hk]
	}
	if s.n >= c.perMax {
		return ErrReplayFull
	}
	if h == nil {
		h = &holderEntries{m: make(map[[16]byte]int64)}
		s.holders[hk] = h
	}
	if len(h.m) >= c.perHolder {
		s.n -= h.gc(n)
		if len(h.m) >= c.perHolder {
			return ErrReplayFull
		}
	}
	if _, ok := h.m[k]; !ok {
		s.n++
	}
	h.m[k] = e
	return nil
}

// gc drops expired entries and empty holders. s.mu is held.
func (s *replayShard) gc(n int64) {
	for hk, h := range s.holders {
		s.n -= h.gc(n)
		if len(h.m) == 0 {
			delete(s.holders, hk)
		}
	}
}

func (h *holderEntries) gc(n int64) int {
	dropped := 0
	for k, x := range h.m {
		if x < n {
			delete(h.m, k)
			dropped++
		}
	}
	return dropped
}

// Len returns the number of entries held, expired or not.
func (c *MemoryReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += c.shards[i].n
		c.shards[i].mu.Unlock()
	}
	return n
}
