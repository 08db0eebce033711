package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// Nonces issues and checks DPoP server nonces (RFC 9449 §8) without
// state: a nonce is its issue time, MACed with a key of the process, and
// it is valid for Lifetime after issue. Nonces bound the age of proofs
// precisely without trusting the client's clock; they are not single-use
// (the proof's jti is). Replicas that share the key accept each other's
// nonces.
type Nonces struct {
	key      []byte
	lifetime time.Duration
}

// NewNonces returns a nonce source with a 32-byte key (nil: a random key
// of this process) and a lifetime (zero: 5 minutes).
func NewNonces(key []byte, lifetime time.Duration) (*Nonces, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) < 32 {
		return nil, errors.New("oauth: nonce key must be at least 32 bytes")
	}
	if lifetime <= 0 {
		lifetime = 5 * time.Minute
	}
	return &Nonces{key: key, lifetime: lifetime}, nil
}

const nonceMACLen = 16

// Issue returns a nonce valid from now for the lifetime.
func (n *Nonces) Issue(now time.Time) string {
	var b [8 + nonceMACLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	copy(b[8:], n.mac(b[:8]))
	return b64.EncodeToString(b[:])
}

// Valid reports whether nonce was issued by n (or a source with its key)
// no more than the lifetime ago (and not in the future).
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	if len(nonce) != b64.EncodedLen(8+nonceMACLen) {
		return false
	}
	b, err := b64.Strict().DecodeString(nonce)
	if err != nil || len(b) != 8+nonceMACLen {
		return false
	}
	if !hmac.Equal(b[8:], n.mac(b[:8])) {
		return false
	}
	t := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	return !t.After(now.Add(time.Second)) && now.Sub(t) <= n.lifetime
}

func (n *Nonces) mac(ts []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("agentid dpop nonce\x00"))
	m.Write(ts)
	return m.Sum(nil)[:nonceMACLen]
}
