package did

import "crypto"

// Context URLs for the documents this package builds.
const (
	ContextDIDv1 = "https://www.w3.org/ns/did/v1"
	ContextJWKv1 = "https://w3id.org/security/jwk/v1"
)

// NewKeyDocument expands a did:key DID into its DID document: one
// JsonWebKey method, "<did>#<multibase key>", listed under authentication,
// assertionMethod, capabilityInvocation and capabilityDelegation.
// keyAgreement is omitted, as agentid does not derive X25519 keys.
func NewKeyDocument(did string) (*Document, error) {
	pub, err := PublicKeyFromKey(did)
	if err != nil {
		return nil, err
	}
	return singleKeyDocument(did, did+"#"+did[len(keyPrefix):], pub)
}

// NewJWKDocument expands a did:jwk DID into its DID document, as the
// did:jwk specification describes: one JsonWebKey method "<did>#0", listed
// under the four signing relationships unless the JWK says "use":"enc", in
// which case it is listed under none of them.
func NewJWKDocument(did string) (*Document, error) {
	k, pub, err := decodeJWKDID(did)
	if err != nil {
		return nil, err
	}
	doc, derr := singleKeyDocument(did, did+"#0", pub)
	if derr != nil {
		return nil, derr
	}
	if k.use == "enc" {
		doc.Authentication, doc.AssertionMethod = nil, nil
		doc.CapabilityInvocation, doc.CapabilityDelegation = nil, nil
	}
	return doc, nil
}

func singleKeyDocument(did, id string, pub crypto.PublicKey) (*Document, error) {
	jwk, err := PublicJWK(pub)
	if err != nil {
		return nil, err
	}
	refs := func() []string { return []string{id} }
	return &Document{
		Context: []string{ContextDIDv1, ContextJWKv1},
		ID:      did,
		VerificationMethod: []VerificationMethod{{
			ID: id, Type: TypeJsonWebKey, Controller: did, PublicKeyJwk: jwk, key: pub,
		}},
		Authentication:       refs(),
		AssertionMethod:      refs(),
		CapabilityInvocation: refs(),
		CapabilityDelegation: refs(),
	}, nil
}

// WebKey is an issuer key to publish in a did:web document. ID is the
// fragment (without '#') that becomes the method id "<did>#<ID>", and so
// the JWS "kid".
type WebKey struct {
	ID     string
	Public crypto.PublicKey
}

// NewWebDocument builds the DID document an issuer serves for its did:web
// DID: each key becomes a JsonWebKey method "<did>#<ID>" with a
// publicKeyJwk, listed under assertionMethod and authentication.
//
// NewWebDocument cannot fail, so it omits keys it cannot publish: keys that
// are not Ed25519 or P-256, empty IDs or IDs containing '#', and repeated
// IDs (the first wins). Callers that need to know should check their keys
// with [PublicJWK] first, or compare len(doc.VerificationMethod). did is
// taken as given; derive it with [WebDID] to be sure it is canonical.
func NewWebDocument(did string, keys []WebKey) *Document {
	doc := &Document{
		Context: []string{ContextDIDv1, ContextJWKv1},
		ID:      did,
	}
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k.ID == "" || seen[k.ID] || !validFragment(k.ID) {
			continue
		}
		jwk, err := PublicJWK(k.Public)
		if err != nil {
			continue
		}
		seen[k.ID] = true
		id := did + "#" + k.ID
		doc.VerificationMethod = append(doc.VerificationMethod, VerificationMethod{
			ID: id, Type: TypeJsonWebKey, Controller: did, PublicKeyJwk: jwk, key: k.Public,
		})
		doc.AssertionMethod = append(doc.AssertionMethod, id)
		doc.Authentication = append(doc.Authentication, id)
	}
	return doc
}

// validFragment accepts the RFC 3986 fragment characters that need no
// escaping in JSON or URLs: unreserved, sub-delims, ':' and '@'.
func validFragment(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '@':
		case c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=':
		default:
			return false
		}
	}
	return true
}
