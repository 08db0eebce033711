package verifier

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// TestHash16 pins hash16 to its definition (SHA-256 of each part and a
// NUL, first 16 bytes), for parts short and longer than its stack buffer.
func TestHash16(t *testing.T) {
	for _, parts := range [][]string{
		{}, {""}, {"did:key:z6Mk", "jti-1"}, {"did:key:z6Mk"},
		{strings.Repeat("a", 300), "b"}, {"x\x00y", ""},
	} {
		h := sha256.New()
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		var want [16]byte
		copy(want[:], h.Sum(nil))
		if got := hash16(parts...); got != want {
			t.Errorf("hash16(%q) = %x, want %x", parts, got, want)
		}
	}
}
