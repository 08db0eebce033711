// Package jws is agentid's strict compact-JWS codec (RFC 7515) for the
// verification hot path.
//
// It accepts exactly three base64url (no padding) segments, at most MaxSize
// bytes in all, a protected header with an allowlisted alg (EdDSA, Ed25519,
// ES256) and no crit, and verifies the signature only with a key whose type
// matches the alg: an alg never chooses the key type. It does not support
// the JSON serialisations, unencoded payloads (RFC 7797), or any key carried
// in the header (jwk, jku, x5c, x5u): those members are rejected so that no
// caller can be tempted to trust them.
//
// Why not go-jose: a go-jose v4 parse + verify of a 1 KB credential measured
// 1.55-1.70x a bare ed25519.Verify on this project's machines, over the
// 1.4x budget; this codec stays near 1.2x. go-jose is still used for JWK
// handling and in tests as an independent cross-check of what we sign.
package jws

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/agentid/agentid/internal/base64url"
	"github.com/agentid/agentid/internal/jsonscan"
	"github.com/agentid/agentid/internal/strictjson"
	"github.com/agentid/agentid/internal/zerocopy"
	"github.com/agentid/agentid/reason"
)

// MaxSize is the largest compact JWS accepted, in bytes.
const MaxSize = 64 << 10

// Algorithms accepted in the protected header.
const (
	AlgEdDSA   = "EdDSA"   // RFC 8037
	AlgEd25519 = "Ed25519" // RFC 9864 fully-specified name
	AlgES256   = "ES256"   // RFC 7518, P-256 with SHA-256, r||s
)

var b64 = base64.RawURLEncoding.Strict()

// Header is the protected header members agentid reads.
type Header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ,omitempty"`
	Kid string `json:"kid,omitempty"`
	Cty string `json:"cty,omitempty"`
}

// rawHeader additionally catches members that must not appear.
// headerNames are the header members the codec reads.
var headerNames = strictjson.NewVocab(rawHeader{})

type rawHeader struct {
	Header
	Crit json.RawMessage `json:"crit"`
	JWK  json.RawMessage `json:"jwk"`
	JKU  json.RawMessage `json:"jku"`
	X5C  json.RawMessage `json:"x5c"`
	X5U  json.RawMessage `json:"x5u"`
	B64  json.RawMessage `json:"b64"`
}

// Token is a parsed, not yet verified, compact JWS. Its slices must not be
// written: SigningInput is the memory of the token string itself, and the
// header's strings, and those of a presentation vc.ParsePresentation
// decodes, share the memory of Payload.
type Token struct {
	Header  Header
	Payload []byte // decoded payload
	// SigningInput is ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
	SigningInput []byte
	Signature    []byte
}

func malformed(detail string, err error) error {
	return reason.Wrap(reason.Malformed, "jws: "+detail, err)
}

// Parse splits and decodes a compact JWS without verifying it. It returns a
// *reason.Error with code malformed or unsupported_alg on bad input.
//
// The token's segments are decoded straight from the string into one
// allocation; the Token's Payload and Signature are parts of it, and its
// SigningInput is the token string's own bytes. A header of alg, typ and kid alone in
// the simple form agentid writes is read by the shared strict scanner
// (internal/jsonscan); any other header by encoding/json after
// strictjson.Check, which gives the same result for the simple form
// (FuzzParseDifferential).
func Parse(token string) (*Token, error) {
	if len(token) > MaxSize {
		return nil, malformed(fmt.Sprintf("token is %d bytes, over the %d limit", len(token), MaxSize), nil)
	}
	i := strings.IndexByte(token, '.')
	if i <= 0 {
		return nil, malformed("not a compact JWS", nil)
	}
	j := strings.IndexByte(token[i+1:], '.')
	if j <= 0 {
		return nil, malformed("not a compact JWS", nil)
	}
	j += i + 1
	if j == len(token)-1 || strings.IndexByte(token[j+1:], '.') >= 0 {
		return nil, malformed("not a compact JWS", nil)
	}
	// One allocation holds the decoded header, payload and signature. Each
	// part is sliced with its capacity cut to its length, so that no slice
	// handed out reaches another part. The signing input is the token's
	// own bytes (zerocopy), which no one writes (see Token).
	h, p, s := token[:i], token[i+1:j], token[j+1:]
	rest := make([]byte, base64url.DecodedLen(len(h))+base64url.DecodedLen(len(p))+base64url.DecodedLen(len(s)))
	input := zerocopy.Bytes(token[:j])
	hn, err := base64url.Decode(rest, h)
	if err != nil {
		return nil, malformed("header is not base64url", err)
	}
	hdr := rest[:hn:hn]
	rest = rest[hn:]
	pn, err := base64url.Decode(rest, p)
	if err != nil {
		return nil, malformed("payload is not base64url", err)
	}
	payload := rest[:pn:pn]
	rest = rest[pn:]
	sn, err := base64url.Decode(rest, s)
	if err != nil {
		return nil, malformed("signature is not base64url", err)
	}
	sig := rest[:sn:sn]

	// The header bytes are reachable from no slice the Token exposes, so
	// they can back the header's strings without a copy.
	hd, ok := fastHeader(zerocopy.String(hdr))
	if !ok {
		var rh rawHeader
		if err := json.Unmarshal(hdr, &rh); err != nil {
			return nil, malformed("header is not a JSON object", err)
		}
		if err := strictjson.Check(hdr, headerNames); err != nil {
			return nil, malformed("header is ambiguous JSON", err)
		}
		if rh.Crit != nil || rh.B64 != nil {
			return nil, malformed("critical header extensions are not supported", nil)
		}
		if rh.JWK != nil || rh.JKU != nil || rh.X5C != nil || rh.X5U != nil {
			return nil, malformed("keys in the header are not accepted", nil)
		}
		hd = rh.Header
	}
	switch hd.Alg {
	case AlgEdDSA, AlgEd25519:
		if len(sig) != ed25519.SignatureSize {
			return nil, malformed("EdDSA signature has the wrong length", nil)
		}
	case AlgES256:
		if len(sig) != 64 {
			return nil, malformed("ES256 signature has the wrong length", nil)
		}
	case "":
		return nil, malformed("header has no alg", nil)
	default:
		return nil, reason.New(reason.UnsupportedAlg, fmt.Sprintf("jws: alg %q is not accepted", hd.Alg))
	}
	return &Token{
		Header:       hd,
		Payload:      payload,
		SigningInput: input,
		Signature:    sig,
	}, nil
}

// fastHeader reads a header of at most alg, typ and kid, each once, as
// strings in the simple form (jsonscan), or reports false: then the
// caller decodes it with encoding/json.
func fastHeader(s string) (Header, bool) {
	var h Header
	var d jsonscan.Scanner
	d.ResetString(s, nil)
	var seen uint32
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "alg":
			d.Once(&seen, 0)
			h.Alg = d.Str()
		case "typ":
			d.Once(&seen, 1)
			h.Typ = d.Str()
		case "kid":
			d.Once(&seen, 2)
			h.Kid = d.Str()
		default:
			d.Fail()
		}
	}
	if !d.End() {
		return Header{}, false
	}
	return h, true
}

// Verify checks the signature with pub, which must be an ed25519.PublicKey
// for EdDSA/Ed25519 or a P-256 *ecdsa.PublicKey for ES256. A key of the
// wrong type is bad_signature's cousin unknown_key: the kid named a key that
// cannot have made this signature.
func (t *Token) Verify(pub any) error {
	return VerifySignature(t.Header.Alg, pub, t.SigningInput, t.Signature)
}

// VerifySignature checks a JWS signature over input.
func VerifySignature(alg string, pub any, input, sig []byte) error {
	switch alg {
	case AlgEdDSA, AlgEd25519:
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return reason.New(reason.UnknownKey, "jws: "+alg+" needs an Ed25519 key")
		}
		if !ed25519.Verify(k, input, sig) {
			return reason.New(reason.BadSignature, "jws: signature does not verify")
		}
		return nil
	case AlgES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return reason.New(reason.UnknownKey, "jws: ES256 needs a P-256 key")
		}
		if len(sig) != 64 {
			return reason.New(reason.BadSignature, "jws: signature does not verify")
		}
		d := sha256.Sum256(input)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k, d[:], r, s) {
			return reason.New(reason.BadSignature, "jws: signature does not verify")
		}
		return nil
	default:
		return reason.New(reason.UnsupportedAlg, fmt.Sprintf("jws: alg %q is not accepted", alg))
	}
}

// Signer makes JWS signatures: raw 64-byte Ed25519 signatures for EdDSA, or
// r||s for ES256. Keystore signers (Tink) and agent key signers implement it.
type Signer interface {
	Alg() string
	KeyID() string
	Sign(signingInput []byte) ([]byte, error)
}

// Sign assembles a compact JWS with header {"alg","typ","kid"} over payload.
func Sign(s Signer, typ string, payload []byte) (string, error) {
	alg := s.Alg()
	if alg != AlgEdDSA && alg != AlgEd25519 && alg != AlgES256 {
		return "", fmt.Errorf("jws: signer alg %q is not supported", alg)
	}
	hdr, err := json.Marshal(Header{Alg: alg, Typ: typ, Kid: s.KeyID()})
	if err != nil {
		return "", fmt.Errorf("jws: header: %w", err)
	}
	hl, pl := b64.EncodedLen(len(hdr)), b64.EncodedLen(len(payload))
	out := make([]byte, hl+1+pl+1+b64.EncodedLen(ed25519.SignatureSize))
	b64.Encode(out, hdr)
	out[hl] = '.'
	b64.Encode(out[hl+1:], payload)
	input := out[:hl+1+pl]
	sig, err := s.Sign(input)
	if err != nil {
		return "", fmt.Errorf("jws: sign: %w", err)
	}
	if len(sig) != 64 {
		return "", errors.New("jws: signer returned a signature of the wrong length")
	}
	out[hl+1+pl] = '.'
	b64.Encode(out[hl+1+pl+1:], sig)
	return string(out), nil
}

// KidDID returns the DID part of a DID URL kid ("did:x:y#frag" → "did:x:y").
// It fails unless kid is an absolute DID URL with a non-empty fragment.
func KidDID(kid string) (string, error) {
	i := strings.IndexByte(kid, '#')
	if i <= 0 || i == len(kid)-1 || !strings.HasPrefix(kid, "did:") || strings.ContainsAny(kid[:i], "/?") {
		return "", reason.New(reason.UnknownKey, "jws: kid is not an absolute DID URL with a fragment")
	}
	return kid[:i], nil
}
