package keystore

// This file is the one adapter between Tink and the rest of the package:
// key parameters, output prefixes, signature encodings and public key
// conversion stay here.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/key"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	tinkecdsa "github.com/tink-crypto/tink-go/v2/signature/ecdsa"
	tinked25519 "github.com/tink-crypto/tink-go/v2/signature/ed25519"
)

// tinkParameters returns the Tink key parameters for alg: no output prefix
// (JWS signatures are raw) and, for ECDSA, IEEE P1363 encoding (R || S).
func tinkParameters(alg Algorithm) (key.Parameters, error) {
	switch alg {
	case Ed25519:
		p, err := tinked25519.NewParameters(tinked25519.VariantNoPrefix)
		if err != nil {
			return nil, err
		}
		return &p, nil
	case ES256:
		return tinkecdsa.NewParameters(tinkecdsa.NistP256, tinkecdsa.SHA256, tinkecdsa.IEEEP1363, tinkecdsa.VariantNoPrefix)
	default:
		return nil, fmt.Errorf("keystore: %w: %q", ErrUnsupportedAlgorithm, string(alg))
	}
}

// newKeysetHandle generates a keyset holding one fresh primary key for alg.
func newKeysetHandle(alg Algorithm) (*keyset.Handle, error) {
	params, err := tinkParameters(alg)
	if err != nil {
		return nil, err
	}
	km := keyset.NewManager()
	id, err := km.AddNewKeyFromParameters(params)
	if err != nil {
		return nil, fmt.Errorf("keystore: generate %s key: %v", alg, err)
	}
	if err := km.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("keystore: generate %s key: %v", alg, err)
	}
	h, err := km.Handle()
	if err != nil {
		return nil, fmt.Errorf("keystore: generate %s key: %v", alg, err)
	}
	return h, nil
}

// rotateKeysetHandle returns a copy of h with one more key of the same
// algorithm, which becomes primary, and the new key's Tink ID.
func rotateKeysetHandle(h *keyset.Handle, alg Algorithm) (*keyset.Handle, uint32, error) {
	params, err := tinkParameters(alg)
	if err != nil {
		return nil, 0, err
	}
	km := keyset.NewManagerFromHandle(h)
	id, err := km.AddNewKeyFromParameters(params)
	if err != nil {
		return nil, 0, fmt.Errorf("keystore: generate %s key: %v", alg, err)
	}
	if err := km.SetPrimary(id); err != nil {
		return nil, 0, fmt.Errorf("keystore: generate %s key: %v", alg, err)
	}
	nh, err := km.Handle()
	if err != nil {
		return nil, 0, fmt.Errorf("keystore: generate %s key: %v", alg, err)
	}
	return nh, id, nil
}

// deleteFromKeysetHandle returns a copy of h without the key with Tink ID id.
func deleteFromKeysetHandle(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	km := keyset.NewManagerFromHandle(h)
	if err := km.Delete(id); err != nil {
		return nil, fmt.Errorf("keystore: delete key: %v", err)
	}
	nh, err := km.Handle()
	if err != nil {
		return nil, fmt.Errorf("keystore: delete key: %v", err)
	}
	return nh, nil
}

// tinkKey is the public view of one key in a keyset.
type tinkKey struct {
	id      uint32 // Tink's key ID inside the keyset, never shown to callers
	kid     string
	pub     crypto.PublicKey
	primary bool
}

// describeKeyset lists the enabled keys of h from its public half, checks
// that they all use one supported algorithm with the expected parameters,
// and returns that algorithm. The private keys are not touched.
func describeKeyset(h *keyset.Handle) (Algorithm, []tinkKey, error) {
	ph, err := h.Public()
	if err != nil {
		return "", nil, fmt.Errorf("keystore: keyset has no public keys: %v", err)
	}
	var (
		alg     Algorithm
		keys    []tinkKey
		primary int
	)
	for i := range ph.Len() {
		e, err := ph.Entry(i)
		if err != nil {
			return "", nil, fmt.Errorf("keystore: read keyset: %v", err)
		}
		if e.KeyStatus() != keyset.Enabled {
			continue
		}
		a, pub, err := publicFromTink(e.Key())
		if err != nil {
			return "", nil, err
		}
		if alg == "" {
			alg = a
		} else if a != alg {
			return "", nil, fmt.Errorf("keystore: keyset mixes %s and %s keys", alg, a)
		}
		kid, err := thumbprint(pub)
		if err != nil {
			return "", nil, err
		}
		if e.IsPrimary() {
			primary++
		}
		keys = append(keys, tinkKey{id: e.KeyID(), kid: kid, pub: pub, primary: e.IsPrimary()})
	}
	if len(keys) == 0 || primary != 1 {
		return "", nil, fmt.Errorf("keystore: keyset has no enabled primary key")
	}
	return alg, keys, nil
}

// publicFromTink converts a Tink public key to its Go form, refusing any
// parameters other than the ones this package creates.
func publicFromTink(k key.Key) (Algorithm, crypto.PublicKey, error) {
	switch k := k.(type) {
	case *tinked25519.PublicKey:
		p, ok := k.Parameters().(*tinked25519.Parameters)
		if !ok || p.Variant() != tinked25519.VariantNoPrefix {
			return "", nil, fmt.Errorf("keystore: Ed25519 key with unexpected parameters")
		}
		b := k.KeyBytes()
		if len(b) != ed25519.PublicKeySize {
			return "", nil, fmt.Errorf("keystore: Ed25519 public key has %d bytes", len(b))
		}
		return Ed25519, ed25519.PublicKey(b), nil
	case *tinkecdsa.PublicKey:
		p, ok := k.Parameters().(*tinkecdsa.Parameters)
		if !ok || p.CurveType() != tinkecdsa.NistP256 || p.HashType() != tinkecdsa.SHA256 ||
			p.SignatureEncoding() != tinkecdsa.IEEEP1363 || p.Variant() != tinkecdsa.VariantNoPrefix {
			return "", nil, fmt.Errorf("keystore: ECDSA key with unexpected parameters")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.PublicPoint())
		if err != nil {
			return "", nil, fmt.Errorf("keystore: ECDSA public key: %v", err)
		}
		return ES256, pub, nil
	default:
		return "", nil, fmt.Errorf("keystore: unsupported key type %T in keyset", k)
	}
}

// newSignerFromHandle builds a Signer for the primary key of h. The private
// key stays inside the Tink primitive.
func newSignerFromHandle(h *keyset.Handle, alg Algorithm, primary tinkKey) (*Signer, error) {
	prim, err := signature.NewSigner(h)
	if err != nil {
		return nil, fmt.Errorf("keystore: create signer: %v", err)
	}
	return &Signer{alg: alg, kid: primary.kid, pub: primary.pub, prim: prim}, nil
}

// thumbprint returns the RFC 7638 JWK thumbprint of pub: SHA-256 over the
// required members in lexicographic order with no whitespace, base64url
// without padding.
func thumbprint(pub crypto.PublicKey) (string, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var input string
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		input = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", fmt.Errorf("keystore: thumbprint: unsupported curve")
		}
		point, err := pub.Bytes() // 0x04 || X || Y, coordinates padded to 32 bytes
		if err != nil || len(point) != 65 {
			return "", fmt.Errorf("keystore: thumbprint: invalid P-256 key")
		}
		input = `{"crv":"P-256","kty":"EC","x":"` + b64(point[1:33]) + `","y":"` + b64(point[33:]) + `"}`
	default:
		return "", fmt.Errorf("keystore: thumbprint: unsupported key type %T", pub)
	}
	sum := sha256.Sum256([]byte(input))
	return b64(sum[:]), nil
}
