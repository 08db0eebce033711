package verifier

import (
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
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

// MemoryReplayCache is a bounded in-memory ReplayCache. Entries are spread
// over shards by holder and jti, to keep lock contention low, and each
// holder has a quota of unexpired entries (a quarter of the cache by
// default), so that one holder cannot take the room of all others. Entries
// are dropped once they expire and never before: when a shard or a
// holder's quota is full of unexpired entries, new keys are refused
// (ErrReplayFull).
type MemoryReplayCache struct {
	shards    [64]replayShard
	holders   [64]holderShard
	perMax    int
	perHolder int
	// lastReclaim is when a holder over its quota last swept the other
	// shards (Unix ns).
	lastReclaim atomic.Int64
}

type replayShard struct {
	mu     sync.Mutex
	m      map[[16]byte]replayEntry
	nextGC int64
}

type replayEntry struct {
	exp    int64    // Unix ns
	holder [16]byte // hash of the holder, for its quota
}

// holderShard counts the entries each holder has in the cache.
type holderShard struct {
	mu sync.Mutex
	n  map[[16]byte]int
}

// NewMemoryReplayCache returns a replay cache that holds at most size
// entries (default 1,000,000 when size <= 0, about 60 MiB at capacity),
// each holder at most a quarter of them.
func NewMemoryReplayCache(size int) *MemoryReplayCache {
	return NewMemoryReplayCacheQuota(size, 0)
}

// NewMemoryReplayCacheQuota is NewMemoryReplayCache with an explicit quota:
// at most perHolder unexpired entries per holder (default, when
// perHolder <= 0, a quarter of size). A holder's presentations beyond its
// quota within their lifetimes are refused. An agent that makes r requests
// a second with presentations valid for l seconds (plus the skew) needs
// r*l entries: 60 s presentations at 1,000 requests a second take 60,000.
func NewMemoryReplayCacheQuota(size, perHolder int) *MemoryReplayCache {
	if size <= 0 {
		size = 1_000_000
	}
	c := &MemoryReplayCache{perMax: size/64 + 1, perHolder: perHolder}
	if c.perHolder <= 0 {
		c.perHolder = max(size/4, 1)
	}
	for i := range c.shards {
		c.shards[i].m = make(map[[16]byte]replayEntry)
		c.holders[i].n = make(map[[16]byte]int)
	}
	return c
}

// hash16 is the first 16 bytes of the SHA-256 of each part followed by
// a NUL byte. Parts of a usual size are hashed from the stack (no
// allocation on the verification path).
func hash16(parts ...string) [16]byte {
	var buf [256]byte
	b := buf[:0]
	for _, p := range parts {
		b = append(append(b, p...), 0)
	}
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// Seen implements ReplayCache.
func (c *MemoryReplayCache) Seen(holder, jti string, now time.Time) bool {
	k := hash16(holder, jti)
	s := &c.shards[k[0]&63]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	return ok && e.exp >= now.UnixNano()
}

// Record implements ReplayCache.
func (c *MemoryReplayCache) Record(holder, jti string, exp, now time.Time) error {
	k, hk := hash16(holder, jti), hash16(holder)
	s := &c.shards[k[0]&63]
	n := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.m[k]
	if had && old.exp >= n {
		return ErrReplayed
	}
	if len(s.m) >= c.perMax || n >= s.nextGC {
		c.gc(s, n)
		// When full, sweep at most once a second: a full shard of live
		// entries must not make every call a full scan.
		s.nextGC = n + int64(time.Second)
		if len(s.m) < c.perMax {
			s.nextGC = n + int64(10*time.Second)
		}
		old, had = s.m[k]
	}
	if !had {
		if len(s.m) >= c.perMax {
			return ErrReplayFull
		}
		// The lock order is always a replay shard, then a holder shard.
		if !c.take(hk) {
			// The holder's expired entries may wait in shards that have
			// not been swept: sweep what can be had without waiting, at
			// most every 100 ms, then look again.
			if last := c.lastReclaim.Load(); n-last >= int64(100*time.Millisecond) && c.lastReclaim.CompareAndSwap(last, n) {
				for i := range c.shards {
					if o := &c.shards[i]; o != s && o.mu.TryLock() {
						c.gc(o, n)
						o.mu.Unlock()
					}
				}
			}
			if !c.take(hk) {
				return ErrReplayFull
			}
		}
	}
	s.m[k] = replayEntry{exp: exp.UnixNano(), holder: hk}
	return nil
}

// take counts one more entry for holder hk, unless its quota is full.
func (c *MemoryReplayCache) take(hk [16]byte) bool {
	h := &c.holders[hk[0]&63]
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[hk] >= c.perHolder {
		return false
	}
	h.n[hk]++
	return true
}

// gc drops the expired entries of s and releases them from their holders'
// quotas. s.mu is held.
func (c *MemoryReplayCache) gc(s *replayShard, n int64) {
	for k, e := range s.m {
		if e.exp >= n {
			continue
		}
		delete(s.m, k)
		h := &c.holders[e.holder[0]&63]
		h.mu.Lock()
		if h.n[e.holder]--; h.n[e.holder] <= 0 {
			delete(h.n, e.holder)
		}
		h.mu.Unlock()
	}
}

// Len returns the number of entries held, expired or not.
func (c *MemoryReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}
