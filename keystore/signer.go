package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Algorithm names a signing algorithm by its JWS "alg" value.
type Algorithm string

// Supported algorithms.
const (
	// Ed25519 is EdDSA over Ed25519 (RFC 8037). It is the default.
	Ed25519 Algorithm = "EdDSA"
	// ES256 is ECDSA over P-256 with SHA-256 (RFC 7518), signatures encoded
	// as R || S.
	ES256 Algorithm = "ES256"
)

// signatureSize is the length of a signature for both algorithms.
const signatureSize = 64

// Signer signs with one private key held inside a Tink primitive. It is safe
// for concurrent use. A Signer never changes key: it is a snapshot of the
// primary key at the time it was obtained.
type Signer struct {
	alg  Algorithm
	kid  string
	pub  crypto.PublicKey
	prim tink.Signer
}

// NewMemorySigner returns a Signer for a fresh key that exists only in
// memory, for tests and tools that need to sign without a database. The key
// is lost when the Signer is garbage collected. An empty alg means Ed25519.
func NewMemorySigner(alg Algorithm) (*Signer, error) {
	if alg == "" {
		alg = Ed25519
	}
	h, err := newKeysetHandle(alg)
	if err != nil {
		return nil, err
	}
	_, keys, err := describeKeyset(h)
	if err != nil {
		return nil, err
	}
	return newSignerFromHandle(h, alg, keys[0])
}

// Alg returns the JWS "alg" value of the signer's key: "EdDSA" or "ES256".
func (s *Signer) Alg() string { return string(s.alg) }

// KeyID returns the key's kid: the RFC 7638 JWK thumbprint of its public
// key, base64url without padding.
func (s *Signer) KeyID() string { return s.kid }

// Public returns the public key: an ed25519.PublicKey or an *ecdsa.PublicKey.
// The caller gets its own copy.
func (s *Signer) Public() crypto.PublicKey { return clonePublic(s.pub) }

// Sign signs the JWS signing input (ASCII(BASE64URL(header) || '.' ||
// BASE64URL(payload))) and returns the raw JWS signature: 64 bytes, for ES256
// R || S as RFC 7518 section 3.4 requires. The input is hashed by the
// algorithm itself; do not pre-hash it.
func (s *Signer) Sign(signingInput []byte) ([]byte, error) {
	sig, err := s.prim.Sign(signingInput)
	if err != nil {
		return nil, fmt.Errorf("keystore: sign with %s key %s: %v", s.alg, s.kid, err)
	}
	if len(sig) != signatureSize {
		return nil, fmt.Errorf("keystore: sign with %s key %s: signature has %d bytes, want %d", s.alg, s.kid, len(sig), signatureSize)
	}
	return sig, nil
}

// OpaqueSigner adapts s to go-jose, so it can be passed as the Key of a
// jose.SigningKey. The adapter only signs with s's own algorithm.
func (s *Signer) OpaqueSigner() jose.OpaqueSigner { return opaqueSigner{s} }

type opaqueSigner struct{ s *Signer }

func (o opaqueSigner) Public() *jose.JSONWebKey {
	jwk := publicJWK(o.s.pub, o.s.kid, o.s.alg)
	return &jwk
}

func (o opaqueSigner) Algs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.SignatureAlgorithm(o.s.alg)}
}

func (o opaqueSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if string(alg) != string(o.s.alg) {
		return nil, fmt.Errorf("keystore: %w: key %s signs %s, not %q", ErrUnsupportedAlgorithm, o.s.kid, o.s.alg, string(alg))
	}
	return o.s.Sign(payload)
}

// PublicKey describes one verifying key of a keyset. It holds public
// information only.
type PublicKey struct {
	// KID is the RFC 7638 JWK thumbprint of Public, base64url.
	KID string
	// Alg is the JWS algorithm: "EdDSA" or "ES256".
	Alg string
	// Public is an ed25519.PublicKey or an *ecdsa.PublicKey.
	Public crypto.PublicKey
	// Primary reports whether this key currently signs.
	Primary bool
	// Created is when the key was generated, per the store's clock.
	Created time.Time
}

// JWK returns the key as a public JSON Web Key with kid, alg and use "sig",
// ready for a JWK set or a DID document.
func (k PublicKey) JWK() jose.JSONWebKey {
	return publicJWK(k.Public, k.KID, Algorithm(k.Alg))
}

func publicJWK(pub crypto.PublicKey, kid string, alg Algorithm) jose.JSONWebKey {
	return jose.JSONWebKey{Key: clonePublic(pub), KeyID: kid, Algorithm: string(alg), Use: "sig"}
}

// clonePublic deep-copies a public key so that callers cannot alter the
// cached one.
func clonePublic(pub crypto.PublicKey) crypto.PublicKey {
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.PublicKey(bytes.Clone(pub))
	case *ecdsa.PublicKey:
		// Round-trip through the encoding rather than copying the
		// deprecated X and Y fields. Keys here come from this package and
		// always encode.
		b, err := pub.Bytes()
		if err != nil {
			return pub
		}
		c, err := ecdsa.ParseUncompressedPublicKey(pub.Curve, b)
		if err != nil {
			return pub
		}
		return c
	default:
		return pub
	}
}
