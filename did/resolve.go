package did

import (
	"context"
	"crypto"
	"strings"
)

// Resolver resolves a DID to its DID document.
type Resolver interface {
	Resolve(ctx context.Context, did string) (*Document, error)
}

// KeyResolver resolves a key ID, an absolute DID URL with a fragment such
// as a JWS "kid", to the public key of the verification method it names,
// provided the method is listed under rel.
type KeyResolver interface {
	ResolveKey(ctx context.Context, kid string, rel Relationship) (crypto.PublicKey, error)
}

// MultiResolver resolves did:key and did:jwk locally and did:web through
// a [WebResolver]. The zero value resolves did:key and did:jwk only. It
// is safe for concurrent use.
type MultiResolver struct {
	web *WebResolver
}

// NewMultiResolver returns a MultiResolver that resolves did:web through
// web; if web is nil, did:web fails with [CodeMethodNotSupported].
func NewMultiResolver(web *WebResolver) *MultiResolver {
	return &MultiResolver{web: web}
}

var (
	_ Resolver    = (*MultiResolver)(nil)
	_ KeyResolver = (*MultiResolver)(nil)
	_ Resolver    = (*WebResolver)(nil)
	_ KeyResolver = (*WebResolver)(nil)
)

// Resolve returns the DID document of did. did:key and did:jwk documents
// are built locally; did:web documents are fetched (and cached) by the
// WebResolver.
func (r *MultiResolver) Resolve(ctx context.Context, did string) (*Document, error) {
	switch {
	case strings.HasPrefix(did, keyPrefix):
		return NewKeyDocument(did)
	case strings.HasPrefix(did, jwkPrefix):
		return NewJWKDocument(did)
	case strings.HasPrefix(did, webPrefix):
		if r == nil || r.web == nil {
			return nil, fail(CodeMethodNotSupported, did, "did:web resolution is not configured")
		}
		return r.web.Resolve(ctx, did)
	default:
		return nil, unsupportedMethod(did)
	}
}

// ResolveKey returns the public key named by kid, which must be an
// absolute DID URL with a fragment, if that key is listed under rel.
//
// For did:key the key is decoded directly from the DID without building a
// document; the fragment must be the DID's method-specific id, as in
// "did:key:z6Mk...#z6Mk...". For did:jwk the fragment must be "0".
func (r *MultiResolver) ResolveKey(ctx context.Context, kid string, rel Relationship) (crypto.PublicKey, error) {
	did, frag, ok := strings.Cut(kid, "#")
	if !ok || frag == "" {
		return nil, fail(CodeInvalidDID, kid, "key ID is not a DID URL with a fragment")
	}
	switch {
	case strings.HasPrefix(did, keyPrefix):
		pub, err := PublicKeyFromKey(did)
		if err != nil {
			return nil, err
		}
		if frag != did[len(keyPrefix):] {
			return nil, fail(CodeNotFound, kid, "did:key fragment is not the key itself")
		}
		if !rel.valid() {
			return nil, fail(CodeNotFound, kid, "key is not listed under %q", trunc(string(rel)))
		}
		return pub, nil
	case strings.HasPrefix(did, jwkPrefix):
		k, pub, err := decodeJWKDID(did)
		if err != nil {
			return nil, err
		}
		if frag != "0" {
			return nil, fail(CodeNotFound, kid, "did:jwk fragment is not \"0\"")
		}
		if !rel.valid() || k.use == "enc" {
			return nil, fail(CodeNotFound, kid, "key is not listed under %q", trunc(string(rel)))
		}
		return pub, nil
	case strings.HasPrefix(did, webPrefix):
		if r == nil || r.web == nil {
			return nil, fail(CodeMethodNotSupported, kid, "did:web resolution is not configured")
		}
		return r.web.ResolveKey(ctx, kid, rel)
	default:
		return nil, unsupportedMethod(did)
	}
}

func unsupportedMethod(did string) *ResolutionError {
	if !isDID(did) {
		return fail(CodeInvalidDID, did, "not a DID")
	}
	return fail(CodeMethodNotSupported, did, "unsupported DID method")
}
