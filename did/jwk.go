package did

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

const (
	jwkPrefix = "did:jwk:"
	// maxJWKDIDLen bounds a did:jwk. A public P-256 JWK with a few optional
	// members encodes to well under 300 characters.
	maxJWKDIDLen = 2048
)

// b64 is unpadded base64url that rejects non-zero trailing bits, so every
// byte string has exactly one accepted encoding.
var b64 = base64.RawURLEncoding.Strict()

// JWK is a public JSON Web Key for the two key types agentid uses. It
// marshals exactly as RFC 8037 and RFC 7518 spell them:
//
//	{"kty":"OKP","crv":"Ed25519","x":"..."}
//	{"kty":"EC","crv":"P-256","x":"...","y":"..."}
//
// Unmarshaling rejects private members ("d", and "k", "p", "q", "dp", "dq",
// "qi", "oth" of other key types), so a private key can never enter a DID
// document through this type. Other members ("kid", "alg", "key_ops", ...)
// are ignored, except "use", which did:jwk needs. Unmarshaling does not
// validate the key itself; [JWK.PublicKey] does.
//
// JWK is this package's own small type rather than go-jose's JSONWebKey,
// because JSONWebKey accepts private keys and extra members when parsing.
// To use a key with go-jose, wrap the result of [JWK.PublicKey]:
// jose.JSONWebKey{Key: pub}.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`

	use string // "use" member, kept for did:jwk; never marshaled.
}

// UnmarshalJSON implements json.Unmarshaler, refusing private members.
func (k *JWK) UnmarshalJSON(data []byte) error {
	var raw struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Use string `json:"use"`
		// Private members of EC, OKP, RSA and oct keys. encoding/json
		// matches names case-insensitively, so "D" is caught too.
		D   json.RawMessage `json:"d"`
		K   json.RawMessage `json:"k"`
		P   json.RawMessage `json:"p"`
		Q   json.RawMessage `json:"q"`
		DP  json.RawMessage `json:"dp"`
		DQ  json.RawMessage `json:"dq"`
		QI  json.RawMessage `json:"qi"`
		Oth json.RawMessage `json:"oth"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fail(CodeInvalidPublicKey, "", "invalid JWK: %v", err)
	}
	if raw.D != nil || raw.K != nil || raw.P != nil || raw.Q != nil ||
		raw.DP != nil || raw.DQ != nil || raw.QI != nil || raw.Oth != nil {
		return fail(CodeInvalidPublicKey, "", "JWK contains private key material")
	}
	*k = JWK{Kty: raw.Kty, Crv: raw.Crv, X: raw.X, Y: raw.Y, use: raw.Use}
	return nil
}

// PublicJWK returns the JWK for an ed25519.PublicKey or a P-256
// *ecdsa.PublicKey.
func PublicJWK(pub crypto.PublicKey) (*JWK, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fail(CodeInvalidPublicKey, "", "Ed25519 public key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return &JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k)}, nil
	case *ecdsa.PublicKey:
		u, err := p256Bytes(k)
		if err != nil {
			return nil, err
		}
		return &JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(u[1:33]), Y: b64.EncodeToString(u[33:])}, nil
	default:
		return nil, unsupportedKeyType(pub)
	}
}

// PublicKey validates the JWK and returns its key: an ed25519.PublicKey or
// a P-256 *ecdsa.PublicKey whose point is on the curve. Well-formed keys of
// other types fail with [CodeInvalidPublicKeyType], malformed ones with
// [CodeInvalidPublicKey].
func (k *JWK) PublicKey() (crypto.PublicKey, error) {
	pub, err := k.publicKey()
	if err != nil {
		return nil, err
	}
	return pub, nil
}

func (k *JWK) publicKey() (crypto.PublicKey, *ResolutionError) {
	if k == nil {
		return nil, fail(CodeInvalidPublicKey, "", "nil JWK")
	}
	switch k.Kty {
	case "OKP":
		switch k.Crv {
		case "Ed25519":
			if k.Y != "" {
				return nil, fail(CodeInvalidPublicKey, "", "OKP JWK has a \"y\" member")
			}
			x, err := decodeCoord(k.X, ed25519.PublicKeySize)
			if err != nil {
				return nil, err
			}
			return ed25519.PublicKey(x), nil
		case "":
			return nil, fail(CodeInvalidPublicKey, "", "OKP JWK has no \"crv\"")
		default: // X25519, Ed448, X448, ...
			return nil, fail(CodeInvalidPublicKeyType, "", "unsupported OKP curve %q", trunc(k.Crv))
		}
	case "EC":
		switch k.Crv {
		case "P-256":
			x, err := decodeCoord(k.X, 32)
			if err != nil {
				return nil, err
			}
			y, err := decodeCoord(k.Y, 32)
			if err != nil {
				return nil, err
			}
			u := make([]byte, 0, 65)
			u = append(append(append(u, 4), x...), y...)
			pub, perr := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), u)
			if perr != nil {
				return nil, fail(CodeInvalidPublicKey, "", "invalid P-256 point: %v", perr)
			}
			return pub, nil
		case "":
			return nil, fail(CodeInvalidPublicKey, "", "EC JWK has no \"crv\"")
		default: // P-384, P-521, secp256k1, ...
			return nil, fail(CodeInvalidPublicKeyType, "", "unsupported EC curve %q", trunc(k.Crv))
		}
	case "":
		return nil, fail(CodeInvalidPublicKey, "", "JWK has no \"kty\"")
	default: // RSA, oct, ...
		return nil, fail(CodeInvalidPublicKeyType, "", "unsupported JWK key type %q", trunc(k.Kty))
	}
}

// decodeCoord decodes a base64url key member that must be exactly n bytes.
// The length check before decoding also rules out the CR and LF characters
// that encoding/base64 would otherwise skip.
func decodeCoord(s string, n int) ([]byte, *ResolutionError) {
	if len(s) != b64.EncodedLen(n) {
		return nil, fail(CodeInvalidPublicKey, "", "JWK coordinate is not %d bytes", n)
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fail(CodeInvalidPublicKey, "", "JWK coordinate is not valid base64url")
	}
	return b, nil
}

// ParsePublicJWK parses a JSON-encoded public JWK (for example a JWT "jwk"
// header or "cnf" claim) and returns its validated key. Private members are
// refused.
func ParsePublicJWK(data []byte) (crypto.PublicKey, error) {
	var k JWK
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, asResolutionError(err, CodeInvalidPublicKey, "")
	}
	return k.PublicKey()
}

// Thumbprint returns the RFC 7638 JWK thumbprint of pub: the unpadded
// base64url SHA-256 of the canonical JWK (required members only, in
// lexicographic order, no whitespace).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := PublicJWK(pub)
	if err != nil {
		return "", err
	}
	// Every member value is base64url or a fixed name, so none needs JSON
	// escaping and plain concatenation yields the canonical form.
	var canon string
	switch k.Kty {
	case "OKP":
		canon = `{"crv":"` + k.Crv + `","kty":"OKP","x":"` + k.X + `"}`
	default:
		canon = `{"crv":"` + k.Crv + `","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:]), nil
}

// JWKFromPublic returns the did:jwk DID for pub: "did:jwk:" followed by the
// base64url encoding of its JWK (see [JWK] for the exact JSON).
func JWKFromPublic(pub crypto.PublicKey) (string, error) {
	k, err := PublicJWK(pub)
	if err != nil {
		return "", err
	}
	b, merr := json.Marshal(k)
	if merr != nil { // Unreachable: JWK holds only strings.
		return "", failWrap(CodeInternalError, "", merr)
	}
	return jwkPrefix + b64.EncodeToString(b), nil
}

// PublicKeyFromJWK decodes a did:jwk DID (without fragment) to its
// validated public key.
func PublicKeyFromJWK(did string) (crypto.PublicKey, error) {
	_, pub, err := decodeJWKDID(did)
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// decodeJWKDID parses a did:jwk DID, returning the JWK and its key.
func decodeJWKDID(did string) (*JWK, crypto.PublicKey, *ResolutionError) {
	if !strings.HasPrefix(did, jwkPrefix) {
		return nil, nil, fail(CodeInvalidDID, did, "not a did:jwk DID")
	}
	enc := did[len(jwkPrefix):]
	if enc == "" || len(did) > maxJWKDIDLen {
		return nil, nil, fail(CodeInvalidDID, did, "did:jwk value is empty or too long")
	}
	for i := 0; i < len(enc); i++ {
		if !isB64URL(enc[i]) {
			return nil, nil, fail(CodeInvalidDID, did, "did:jwk value is not base64url")
		}
	}
	data, err := b64.DecodeString(enc)
	if err != nil {
		return nil, nil, fail(CodeInvalidDID, did, "did:jwk value is not base64url: %v", err)
	}
	var k JWK
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, nil, asResolutionError(err, CodeInvalidDID, did)
	}
	pub, perr := k.publicKey()
	if perr != nil {
		perr.DID = did
		return nil, nil, perr
	}
	return &k, pub, nil
}

func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// asResolutionError returns err as a *ResolutionError with its DID set,
// wrapping it under code if it is not one already (a JSON syntax error).
func asResolutionError(err error, code, did string) *ResolutionError {
	var re *ResolutionError
	if errors.As(err, &re) {
		c := *re
		c.DID = did
		return &c
	}
	return fail(code, did, "invalid JSON: %v", err)
}

// trunc shortens attacker-controlled strings echoed in error messages.
func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
