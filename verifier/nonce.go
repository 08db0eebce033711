package verifier

import (
	"container/heap"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"
)

// NonceStore issues single-use challenges for verifiers that require them.
type NonceStore interface {
	// Issue returns a fresh nonce valid until now+ttl.
	Issue(now time.Time) string
	// Consume reports whether nonce was issued, is unexpired and unused, and
	// marks it used.
	Consume(nonce string, now time.Time) bool
}

// Nonce layout, before base64url: the issue time (Unix nanoseconds,
// big-endian), random bytes, and an HMAC-SHA256 tag over both, truncated.
const (
	nonceTimeLen = 8
	nonceRandLen = 16
	nonceTagLen  = 16
	nonceLen     = nonceTimeLen + nonceRandLen + nonceTagLen
)

// MemoryNonces is a NonceStore whose nonces are stateless until used: a
// nonce is a MAC, under a key drawn when the store is made, over its issue
// time and random bytes, so issuing one stores nothing and a flood of
// Issue calls cannot evict or expire anyone's challenge. Single use is
// enforced by recording consumed nonces until they expire.
//
// The record of consumed nonces is bounded (max). When it is full, the
// record of the oldest-issued nonce is dropped and every nonce issued at or
// before it is refused from then on: a nonce is never accepted twice, and
// only older challenges are lost. Consume is called by the verifier only
// after the presentation's signature verified, so filling the record takes
// a signed presentation per nonce.
//
// The key lives in memory only: nonces do not survive a restart, and a
// nonce is valid only at the process that issued it.
type MemoryNonces struct {
	key [32]byte
	ttl time.Duration
	max int

	mu    sync.Mutex
	used  map[[nonceTagLen]byte]struct{}
	order usedHeap // consumed nonces, oldest issue time first
	floor int64    // nonces issued at or before floor (Unix ns) are refused
}

// NewMemoryNonces returns a nonce store whose nonces live for ttl (default 5
// minutes) and which remembers at most max consumed nonces (default
// 100,000).
func NewMemoryNonces(ttl time.Duration, max int) *MemoryNonces {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if max <= 0 {
		max = 100_000
	}
	s := &MemoryNonces{ttl: ttl, max: max, used: make(map[[nonceTagLen]byte]struct{}), floor: -1 << 63}
	_, _ = rand.Read(s.key[:]) // crypto/rand.Read never fails
	return s
}

func (s *MemoryNonces) tag(msg []byte) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write(msg)
	return m.Sum(nil)[:nonceTagLen]
}

// Issue implements NonceStore. It stores nothing.
func (s *MemoryNonces) Issue(now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceTimeLen], uint64(now.UnixNano()))
	_, _ = rand.Read(b[nonceTimeLen : nonceTimeLen+nonceRandLen])
	copy(b[nonceTimeLen+nonceRandLen:], s.tag(b[:nonceTimeLen+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Consume implements NonceStore: the nonce must carry this store's MAC,
// have been issued no later than now and no earlier than now-ttl, and not
// have been consumed before.
func (s *MemoryNonces) Consume(nonce string, now time.Time) bool {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(nonceLen) {
		return false
	}
	var b [nonceLen]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(nonce)); err != nil || n != nonceLen {
		return false
	}
	if !hmac.Equal(b[nonceTimeLen+nonceRandLen:], s.tag(b[:nonceTimeLen+nonceRandLen])) {
		return false
	}
	issued := int64(binary.BigEndian.Uint64(b[:nonceTimeLen]))
	t := now.UnixNano()
	if issued > t || t-issued > int64(s.ttl) {
		return false
	}
	var id [nonceTagLen]byte
	copy(id[:], b[nonceTimeLen+nonceRandLen:])

	s.mu.Lock()
	defer s.mu.Unlock()
	// Forget consumed nonces that have expired anyway.
	for len(s.order) > 0 && t-s.order[0].issued > int64(s.ttl) {
		delete(s.used, heap.Pop(&s.order).(usedNonce).id)
	}
	if _, ok := s.used[id]; ok || issued <= s.floor {
		return false
	}
	if len(s.used) >= s.max {
		old := heap.Pop(&s.order).(usedNonce)
		delete(s.used, old.id)
		s.floor = max(s.floor, old.issued)
		if issued <= s.floor {
			return false
		}
	}
	s.used[id] = struct{}{}
	heap.Push(&s.order, usedNonce{issued: issued, id: id})
	return true
}

type usedNonce struct {
	issued int64
	id     [nonceTagLen]byte
}

// usedHeap is a min-heap of consumed nonces by issue time.
type usedHeap []usedNonce

func (h usedHeap) Len() int           { return len(h) }
func (h usedHeap) Less(i, j int) bool { return h[i].issued < h[j].issued }
func (h usedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *usedHeap) Push(x any)        { *h = append(*h, x.(usedNonce)) }
func (h *usedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
