package verifier

import (
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayCache remembers presentation ids (holder + jti) until they expire,
// so that each presentation is accepted at most once.
type ReplayCache interface {
	// Seen records key until exp and reports whether it was already there.
	// When the cache cannot record the key, it reports true: a verifier must
	// fail closed rather than accept a presentation it cannot track.
	Seen(key string, exp time.Time, now time.Time) bool
}

// MemoryReplayCache is a bounded in-memory ReplayCache, sharded to keep lock
// contention low. Entries are dropped once they expire; when a shard is full
// of unexpired entries, new keys are refused (reported as seen).
type MemoryReplayCache struct {
	shards [64]replayShard
	perMax int
}

type replayShard struct {
	mu     sync.Mutex
	m      map[[16]byte]int64
	nextGC int64
}

// NewMemoryReplayCache returns a replay cache that holds at most max entries
// (default 1,000,000 when max <= 0, about 40 MiB at capacity).
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max <= 0 {
		max = 1_000_000
	}
	c := &MemoryReplayCache{perMax: max/64 + 1}
	for i := range c.shards {
		c.shards[i].m = make(map[[16]byte]int64)
	}
	return c
}

// Seen implements ReplayCache.
func (c *MemoryReplayCache) Seen(key string, exp, now time.Time) bool {
	sum := sha256.Sum256([]byte(key))
	var k [16]byte
	copy(k[:], sum[:16])
	s := &c.shards[k[0]&63]
	n, e := now.UnixNano(), exp.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[k]; ok && old >= n {
		return true
	}
	if len(s.m) >= c.perMax || n >= s.nextGC {
		for key, x := range s.m {
			if x < n {
				delete(s.m, key)
			}
		}
		s.nextGC = n + int64(10*time.Second)
		if len(s.m) >= c.perMax {
			return true
		}
	}
	s.m[k] = e
	return false
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
