package oauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/agentid/agentid/did"
)

var b64 = base64.RawURLEncoding

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of an Ed25519 or
// P-256 public key: the value of a DPoP-bound token's cnf.jkt.
func Thumbprint(pub crypto.PublicKey) (string, error) { return did.Thumbprint(pub) }

// okpPrefix and okpSuffix surround the key in the canonical JWK of an
// Ed25519 key (RFC 7638 §3.2: crv, kty, x in order, no whitespace).
const okpPrefix, okpSuffix = `{"crv":"Ed25519","kty":"OKP","x":"`, `"}`

// thumbprint returns prefix + Thumbprint(pub). For an Ed25519 key (that
// of most DPoP proofs) the canonical JWK is built on the stack and the
// result is the one allocation. TestThumbprintFast holds it to
// did.Thumbprint.
func thumbprint(prefix string, pub crypto.PublicKey) (string, error) {
	k, ok := pub.(ed25519.PublicKey)
	if !ok || len(k) != ed25519.PublicKeySize {
		t, err := did.Thumbprint(pub)
		return prefix + t, err
	}
	var canon [len(okpPrefix) + 43 + len(okpSuffix)]byte
	copy(canon[:], okpPrefix)
	b64.Encode(canon[len(okpPrefix):], k)
	copy(canon[len(okpPrefix)+43:], okpSuffix)
	sum := sha256.Sum256(canon[:])
	var out [16 + 43]byte
	if len(prefix) > 16 {
		return prefix + b64.EncodeToString(sum[:]), nil
	}
	n := copy(out[:], prefix)
	b64.Encode(out[n:], sum[:])
	return string(out[:n+43]), nil
}

// requiredMembers are the members of each key type that RFC 7638 §3.2
// hashes, in lexicographic order.
var requiredMembers = map[string][]string{
	"EC":  {"crv", "kty", "x", "y"},
	"OKP": {"crv", "kty", "x"},
	"RSA": {"e", "kty", "n"},
	"oct": {"k", "kty"},
}

// ThumbprintJWK returns the RFC 7638 SHA-256 thumbprint of a JWK given as
// JSON, of any key type the RFC names (EC, OKP, RSA, oct): the canonical
// JSON of its required members, in lexicographic order, without
// whitespace. It does not validate the key; agentid uses [Thumbprint] on
// keys it accepted, and this function to cross-check it against the RFC's
// own example.
func ThumbprintJWK(jwk []byte) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		return "", fmt.Errorf("oauth: JWK: %w", err)
	}
	kty, _ := m["kty"].(string)
	names, ok := requiredMembers[kty]
	if !ok {
		return "", fmt.Errorf("oauth: JWK key type %q has no thumbprint members", kty)
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, n := range names {
		v, ok := m[n].(string)
		if !ok {
			return "", errors.New("oauth: JWK lacks required member " + n)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(&buf, n)
		buf.WriteByte(':')
		writeString(&buf, v)
	}
	buf.WriteByte('}')
	sum := sha256.Sum256(buf.Bytes())
	return b64.EncodeToString(sum[:]), nil
}

// writeString writes s as a JSON string without HTML escaping (RFC 7638
// §3.3 wants the shortest JSON form).
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}
