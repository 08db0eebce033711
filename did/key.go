package did

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"strings"

	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-varint"
)

const (
	keyPrefix = "did:key:"

	// Multicodec codes (https://github.com/multiformats/multicodec).
	codecEd25519 = 0xed
	codecX25519  = 0xec
	codecP256    = 0x1200
	codecP384    = 0x1201
	codecP521    = 0x1202

	// maxMultikeyLen bounds the multibase value handed to the base58
	// decoder, whose cost is quadratic in the input length. The longest
	// key we accept (P-256, 2+33 bytes) encodes to 49 characters; the limit
	// is higher so that P-384 and P-521 keys (up to 2+133 bytes, 184
	// characters uncompressed) are reported as unsupported types rather
	// than as malformed.
	maxMultikeyLen = 256
)

// KeyFromPublic returns the did:key DID for pub, which must be an
// ed25519.PublicKey ("did:key:z6Mk...") or a P-256 *ecdsa.PublicKey
// ("did:key:zDn...", compressed point).
func KeyFromPublic(pub crypto.PublicKey) (string, error) {
	mb, err := encodeMultikey(pub)
	if err != nil {
		return "", err
	}
	return keyPrefix + mb, nil
}

// PublicKeyFromKey decodes a did:key DID (without fragment) to its public
// key: an ed25519.PublicKey or a P-256 *ecdsa.PublicKey whose point has been
// decompressed and checked to be on the curve.
//
// Well-formed keys of other types (X25519, P-384, P-521, secp256k1, ...)
// fail with [CodeInvalidPublicKeyType]; wrong lengths and invalid points
// with [CodeInvalidPublicKey]; anything else with [CodeInvalidDID].
func PublicKeyFromKey(did string) (crypto.PublicKey, error) {
	if !strings.HasPrefix(did, keyPrefix) {
		return nil, fail(CodeInvalidDID, did, "not a did:key DID")
	}
	pub, err := decodeMultikey(did[len(keyPrefix):])
	if err != nil {
		err.DID = did
		return nil, err
	}
	return pub, nil
}

// encodeMultikey returns the base58btc multibase encoding of the
// multicodec-prefixed public key, as used by did:key and Multikey.
func encodeMultikey(pub crypto.PublicKey) (string, error) {
	var raw []byte
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fail(CodeInvalidPublicKey, "", "Ed25519 public key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		raw = append([]byte{0xed, 0x01}, k...) // varint(0xed)
	case *ecdsa.PublicKey:
		c, err := compressP256(k)
		if err != nil {
			return "", err
		}
		raw = append([]byte{0x80, 0x24}, c...) // varint(0x1200)
	default:
		return "", unsupportedKeyType(pub)
	}
	s, err := multibase.Encode(multibase.Base58BTC, raw)
	if err != nil { // Unreachable: Base58BTC is always available.
		return "", failWrap(CodeInternalError, "", err)
	}
	return s, nil
}

// decodeMultikey decodes a base58btc multibase, multicodec-prefixed public
// key. Errors carry no DID; the caller fills it in.
func decodeMultikey(mb string) (crypto.PublicKey, *ResolutionError) {
	if len(mb) < 2 || mb[0] != 'z' {
		return nil, fail(CodeInvalidDID, "", "key is not base58btc multibase ('z')")
	}
	if len(mb) > maxMultikeyLen {
		return nil, fail(CodeInvalidDID, "", "multibase key is %d characters, longer than any supported key", len(mb))
	}
	_, raw, err := multibase.Decode(mb)
	if err != nil {
		return nil, fail(CodeInvalidDID, "", "invalid base58btc: %v", err)
	}
	codec, n, err := varint.FromUvarint(raw)
	if err != nil {
		return nil, fail(CodeInvalidDID, "", "invalid multicodec prefix: %v", err)
	}
	key := raw[n:]
	switch codec {
	case codecEd25519:
		if len(key) != ed25519.PublicKeySize {
			return nil, fail(CodeInvalidPublicKey, "", "Ed25519 key is %d bytes, want %d", len(key), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(key[:ed25519.PublicKeySize:ed25519.PublicKeySize]), nil
	case codecP256:
		if len(key) != 33 {
			return nil, fail(CodeInvalidPublicKey, "", "P-256 key is %d bytes, want 33 (compressed point)", len(key))
		}
		pub, err := decompressP256(key)
		if err != nil {
			return nil, err
		}
		return pub, nil
	case codecX25519:
		return nil, fail(CodeInvalidPublicKeyType, "", "X25519 keys cannot verify signatures")
	case codecP384:
		return nil, fail(CodeInvalidPublicKeyType, "", "P-384 keys are not supported")
	case codecP521:
		return nil, fail(CodeInvalidPublicKeyType, "", "P-521 keys are not supported")
	case 0xe7, 0xea, 0xeb, 0xee, 0xef, 0x1203, 0x1204, 0x1205, 0x1206:
		// secp256k1, BLS12-381 G1/G2/G1G2, sr25519, Ed448, X448, RSA, SM2.
		return nil, fail(CodeInvalidPublicKeyType, "", "unsupported key type (multicodec 0x%x)", codec)
	default:
		// Not a public key codec at all; most often a corrupted value, as
		// base58 spreads any damage into the leading bytes.
		return nil, fail(CodeInvalidDID, "", "multicodec 0x%x is not a public key type", codec)
	}
}

// compressP256 returns the 33-byte SEC 1 compressed form of a P-256 key.
func compressP256(k *ecdsa.PublicKey) ([]byte, error) {
	u, err := p256Bytes(k)
	if err != nil {
		return nil, err
	}
	c := make([]byte, 33)
	c[0] = 2 | u[64]&1
	copy(c[1:], u[1:33])
	return c, nil
}

// p256Bytes returns the validated 65-byte uncompressed encoding of a P-256
// key.
func p256Bytes(k *ecdsa.PublicKey) ([]byte, *ResolutionError) {
	if k == nil {
		return nil, fail(CodeInvalidPublicKey, "", "nil ECDSA public key")
	}
	if k.Curve != elliptic.P256() {
		return nil, fail(CodeInvalidPublicKeyType, "", "ECDSA curve is not P-256")
	}
	// PublicKey.Bytes panics on nil coordinates, so look at the deprecated
	// fields once, only to refuse such keys.
	if k.X == nil || k.Y == nil {
		return nil, fail(CodeInvalidPublicKey, "", "P-256 public key has no coordinates")
	}
	u, err := k.Bytes() // Validates the point.
	if err != nil || len(u) != 65 {
		return nil, fail(CodeInvalidPublicKey, "", "invalid P-256 public key: %v", err)
	}
	return u, nil
}

// decompressP256 decodes a SEC 1 compressed P-256 point and validates it.
func decompressP256(c []byte) (*ecdsa.PublicKey, *ResolutionError) {
	if len(c) != 33 || (c[0] != 2 && c[0] != 3) {
		return nil, fail(CodeInvalidPublicKey, "", "not a compressed P-256 point")
	}
	x, y := elliptic.UnmarshalCompressed(elliptic.P256(), c)
	if x == nil {
		return nil, fail(CodeInvalidPublicKey, "", "P-256 point is not on the curve")
	}
	u := make([]byte, 65)
	u[0] = 4
	x.FillBytes(u[1:33])
	y.FillBytes(u[33:])
	// ParseUncompressedPublicKey repeats the on-curve check with the
	// constant-time nistec code and gives us a key without touching the
	// deprecated big.Int fields.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), u)
	if err != nil {
		return nil, fail(CodeInvalidPublicKey, "", "invalid P-256 point: %v", err)
	}
	return pub, nil
}

// unsupportedKeyType is the error for a Go key of a type we do not handle.
func unsupportedKeyType(pub crypto.PublicKey) *ResolutionError {
	if k, ok := pub.(*ecdsa.PublicKey); ok && k == nil {
		return fail(CodeInvalidPublicKey, "", "nil ECDSA public key")
	}
	return fail(CodeInvalidPublicKeyType, "", "unsupported public key type %T (want ed25519.PublicKey or P-256 *ecdsa.PublicKey)", pub)
}
