package verifier

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// A flood of Issue calls stores nothing, so it cannot evict a challenge
// handed out before it: that nonce is accepted once and only once.
func TestNonceFloodEvictsNothing(t *testing.T) {
	s := NewMemoryNonces(time.Minute, 1000)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := s.Issue(now)
	for i := range 200_000 {
		s.Issue(now.Add(time.Duration(i)))
	}
	if !s.Consume(n, now.Add(time.Second)) {
		t.Fatal("nonce issued before the flood was refused")
	}
	if s.Consume(n, now.Add(2*time.Second)) {
		t.Fatal("nonce accepted twice")
	}
}

func TestNonceRefusals(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := NewMemoryNonces(time.Minute, 10)
	other := NewMemoryNonces(time.Minute, 10)
	good := s.Issue(now)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name, nonce string
		at          time.Time
	}{
		{"empty", "", now},
		{"made up", "made-up", now},
		{"another store's key", other.Issue(now), now},
		{"time changed", flip(3), now},
		{"random changed", flip(12), now},
		{"tag changed", flip(len(raw) - 1), now},
		{"truncated", good[:len(good)-1], now},
		{"extended", good + "A", now},
		{"padded", good + "=", now},
		{"not base64url", strings.Repeat("*", len(good)), now},
		{"expired", good, now.Add(time.Minute + time.Nanosecond)},
		{"issued in the future", good, now.Add(-time.Nanosecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s.Consume(tc.nonce, tc.at) {
				t.Fatalf("Consume(%q) = true", tc.nonce)
			}
		})
	}
	// None of the refusals consumed the genuine nonce.
	if !s.Consume(good, now.Add(time.Minute)) {
		t.Fatal("genuine nonce refused at the end of its lifetime")
	}
}

// The record of consumed nonces is bounded; when it is full the oldest
// record goes and every nonce issued at or before it is refused, so no
// nonce is ever accepted twice.
func TestNonceConsumedRecordBounded(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := NewMemoryNonces(time.Minute, 2)
	n := make([]string, 5)
	for i := range n {
		n[i] = s.Issue(now.Add(time.Duration(i) * time.Second))
	}
	at := now.Add(10 * time.Second)
	for _, i := range []int{1, 2, 3} { // the third drops n[1]'s record
		if !s.Consume(n[i], at) {
			t.Fatalf("n[%d] refused", i)
		}
	}
	if len(s.used) != 2 {
		t.Fatalf("%d records, want 2", len(s.used))
	}
	for _, i := range []int{0, 1, 2, 3} {
		if s.Consume(n[i], at) {
			t.Fatalf("n[%d] accepted after the record was full", i)
		}
	}
	if !s.Consume(n[4], at) {
		t.Fatal("a nonce newer than every dropped record was refused")
	}
	// Expired records are forgotten, and the bound no longer bites.
	later := now.Add(2 * time.Minute)
	if m := s.Issue(later); !s.Consume(m, later) || len(s.used) != 1 {
		t.Fatalf("fresh nonce after expiry: %d records", len(s.used))
	}
}

// Through the verifier, a mangled or forged nonce is bad_nonce.
func TestNonceMangledIsBadNonce(t *testing.T) {
	nonces := NewMemoryNonces(time.Minute, 10)
	e := newEnv(t, WithRequiredNonce(nonces))
	n := nonces.Issue(e.now())
	mangled := n[:10] + "A" + n[11:]
	if n[10] == 'A' {
		mangled = n[:10] + "B" + n[11:]
	}
	for _, bad := range []string{mangled, NewMemoryNonces(time.Minute, 10).Issue(e.now())} {
		tok := e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Nonce = bad })
		if _, err := e.v.Verify(context.Background(), tok, req()); !errors.Is(err, reason.BadNonce) {
			t.Fatalf("nonce %q: %v, want bad_nonce", bad, err)
		}
	}
	tok := e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Nonce = n })
	if _, err := e.v.Verify(context.Background(), tok, req()); err != nil {
		t.Fatal(err)
	}
}
