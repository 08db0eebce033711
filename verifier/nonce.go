package verifier

import (
	"crypto/rand"
	"encoding/base64"
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

// MemoryNonces is an in-memory NonceStore with a fixed lifetime and a bound
// on outstanding nonces (oldest are dropped first when full).
type MemoryNonces struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	m   map[string]int64
	q   []string
}

// NewMemoryNonces returns a nonce store whose nonces live for ttl (default 5
// minutes) and of which at most max (default 100,000) are outstanding.
func NewMemoryNonces(ttl time.Duration, max int) *MemoryNonces {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if max <= 0 {
		max = 100_000
	}
	return &MemoryNonces{ttl: ttl, max: max, m: make(map[string]int64)}
}

// Issue implements NonceStore.
func (s *MemoryNonces) Issue(now time.Time) string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	n := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.q) > 0 && (len(s.m) >= s.max || s.m[s.q[0]] < now.UnixNano()) {
		delete(s.m, s.q[0])
		s.q = s.q[1:]
	}
	s.m[n] = now.Add(s.ttl).UnixNano()
	s.q = append(s.q, n)
	return n
}

// Consume implements NonceStore.
func (s *MemoryNonces) Consume(nonce string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[nonce]
	if !ok {
		return false
	}
	delete(s.m, nonce)
	return exp >= now.UnixNano()
}
