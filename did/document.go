package did

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"strings"
)

// MaxDocumentSize is the largest DID document [ParseDocument] accepts.
const MaxDocumentSize = 64 << 10

// Verification method types produced and understood by this package.
const (
	// TypeJsonWebKey is the W3C Controlled Identifiers type for a method
	// with a publicKeyJwk. Every method this package creates has it.
	TypeJsonWebKey = "JsonWebKey"
	// TypeJsonWebKey2020 is the older name of the same thing, still common.
	TypeJsonWebKey2020 = "JsonWebKey2020"
	// TypeMultikey is the type for a method with a publicKeyMultibase.
	TypeMultikey = "Multikey"
	// TypeEd25519VerificationKey2020 is a publicKeyMultibase Ed25519 method.
	TypeEd25519VerificationKey2020 = "Ed25519VerificationKey2020"
)

// Relationship is a verification relationship of a DID document.
type Relationship string

// The verification relationships agentid uses. keyAgreement is left out on
// purpose: agentid only verifies signatures.
const (
	Authentication       Relationship = "authentication"
	AssertionMethod      Relationship = "assertionMethod"
	CapabilityInvocation Relationship = "capabilityInvocation"
	CapabilityDelegation Relationship = "capabilityDelegation"
)

func (r Relationship) valid() bool {
	switch r {
	case Authentication, AssertionMethod, CapabilityInvocation, CapabilityDelegation:
		return true
	}
	return false
}

// Document is a DID document, reduced to the members agentid needs.
// Unknown members (service, keyAgreement, ...) are dropped on parse.
//
// Documents returned by [ParseDocument], the New*Document functions and the
// resolvers hold a pre-validated copy of each method's key and may be
// shared between goroutines (resolvers cache them), so treat them as
// read-only.
type Document struct {
	Context            any                  `json:"@context,omitempty"`
	ID                 string               `json:"id"`
	Controller         any                  `json:"controller,omitempty"`
	AlsoKnownAs        []string             `json:"alsoKnownAs,omitempty"`
	VerificationMethod []VerificationMethod `json:"verificationMethod,omitempty"`
	// Relationship lists hold absolute DID URLs after ParseDocument.
	// Methods embedded in them are moved into VerificationMethod and
	// replaced by a reference.
	Authentication       []string `json:"authentication,omitempty"`
	AssertionMethod      []string `json:"assertionMethod,omitempty"`
	CapabilityInvocation []string `json:"capabilityInvocation,omitempty"`
	CapabilityDelegation []string `json:"capabilityDelegation,omitempty"`
}

// VerificationMethod is one verification method of a [Document]. Exactly
// one of PublicKeyJwk and PublicKeyMultibase is set for a usable method.
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyJwk       *JWK   `json:"publicKeyJwk,omitempty"`
	PublicKeyMultibase string `json:"publicKeyMultibase,omitempty"`

	// key is the validated key, set by this package's constructors and
	// parser; nil means "decode on use".
	key crypto.PublicKey
	// unusable is set for methods whose key is of a type (or in a
	// representation) this package does not verify with.
	unusable *ResolutionError
}

// PublicKey returns the key of the method named kid, after checking that:
// kid is this document's DID followed by a fragment (kid may also be a
// relative "#fragment"); kid is listed under rel; the method exists, its
// controller is this document's DID, and its key is an Ed25519 or P-256
// key.
//
// A kid that does not qualify fails with [CodeNotFound]; an unsupported key
// with [CodeInvalidPublicKeyType]. Both map to [reason.UnknownKey].
func (d *Document) PublicKey(kid string, rel Relationship) (crypto.PublicKey, error) {
	if d == nil || !isDID(d.ID) {
		return nil, fail(CodeNotFound, kid, "no valid DID document")
	}
	abs := absolute(kid, d.ID)
	if !belongs(abs, d.ID) {
		return nil, fail(CodeNotFound, kid, "key does not belong to %s", quoteTrunc(d.ID))
	}
	if !rel.valid() {
		return nil, fail(CodeNotFound, kid, "unknown verification relationship %q", trunc(string(rel)))
	}
	listed := false
	for _, ref := range d.references(rel) {
		if absolute(ref, d.ID) == abs {
			listed = true
			break
		}
	}
	if !listed {
		return nil, fail(CodeNotFound, kid, "key is not listed under %s", rel)
	}
	for i := range d.VerificationMethod {
		m := &d.VerificationMethod[i]
		if absolute(m.ID, d.ID) != abs {
			continue
		}
		if m.Controller != d.ID {
			return nil, fail(CodeNotFound, kid, "method controller is not the document's DID")
		}
		pub, err := m.publicKey()
		if err != nil {
			err.DID = kid
			return nil, err
		}
		return pub, nil
	}
	return nil, fail(CodeNotFound, kid, "no such verification method")
}

func (d *Document) references(rel Relationship) []string {
	switch rel {
	case Authentication:
		return d.Authentication
	case AssertionMethod:
		return d.AssertionMethod
	case CapabilityInvocation:
		return d.CapabilityInvocation
	case CapabilityDelegation:
		return d.CapabilityDelegation
	}
	return nil
}

// publicKey returns the method's validated key.
func (m *VerificationMethod) publicKey() (crypto.PublicKey, *ResolutionError) {
	if m.unusable != nil {
		c := *m.unusable
		return nil, &c
	}
	if m.key != nil {
		return m.key, nil
	}
	pub, err := m.decode()
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// decode checks the method's type against its key material and decodes
// the key. Malformed material fails with CodeInvalidPublicKey; a type or
// key this package cannot use with CodeInvalidPublicKeyType.
func (m *VerificationMethod) decode() (crypto.PublicKey, *ResolutionError) {
	switch {
	case m.PublicKeyJwk != nil && m.PublicKeyMultibase != "":
		return nil, fail(CodeInvalidPublicKey, "", "method has both publicKeyJwk and publicKeyMultibase")
	case m.PublicKeyJwk != nil:
		pub, err := m.PublicKeyJwk.publicKey()
		if err != nil {
			return nil, err
		}
		if m.Type != TypeJsonWebKey && m.Type != TypeJsonWebKey2020 {
			return nil, fail(CodeInvalidPublicKeyType, "", "method type %q does not take publicKeyJwk", trunc(m.Type))
		}
		return pub, nil
	case m.PublicKeyMultibase != "":
		pub, err := decodeMultikey(m.PublicKeyMultibase)
		if err != nil {
			if err.Code == CodeInvalidDID {
				err.Code = CodeInvalidPublicKey
			}
			return nil, err
		}
		switch m.Type {
		case TypeMultikey:
		case TypeEd25519VerificationKey2020:
			if _, ok := pub.(ed25519.PublicKey); !ok {
				return nil, fail(CodeInvalidPublicKeyType, "", "%s method holds a non-Ed25519 key", m.Type)
			}
		default:
			return nil, fail(CodeInvalidPublicKeyType, "", "method type %q does not take publicKeyMultibase", trunc(m.Type))
		}
		return pub, nil
	default:
		return nil, fail(CodeInvalidPublicKeyType, "", "method has no publicKeyJwk or publicKeyMultibase")
	}
}

// wireDocument is the JSON shape ParseDocument reads: relationship entries
// may be references or embedded methods.
type wireDocument struct {
	Context              any                  `json:"@context"`
	ID                   string               `json:"id"`
	Controller           any                  `json:"controller"`
	AlsoKnownAs          []string             `json:"alsoKnownAs"`
	VerificationMethod   []VerificationMethod `json:"verificationMethod"`
	Authentication       []json.RawMessage    `json:"authentication"`
	AssertionMethod      []json.RawMessage    `json:"assertionMethod"`
	CapabilityInvocation []json.RawMessage    `json:"capabilityInvocation"`
	CapabilityDelegation []json.RawMessage    `json:"capabilityDelegation"`
}

// ParseDocument parses and validates a JSON DID document of at most
// [MaxDocumentSize] bytes. It checks that id is a DID; that every
// verification method, listed or embedded in a relationship, has an id of
// the form "<id>#fragment" (relative "#fragment" ids are made absolute),
// a type and a controller that is a DID, and no duplicate; and that every
// publicKeyJwk and publicKeyMultibase is well formed.
//
// Methods with well-formed keys this package cannot use (X25519, P-384,
// publicKeyBase58, unknown types, ...) are kept, so that real-world
// documents parse, but [Document.PublicKey] refuses them. A malformed key,
// such as a point off the curve or a JWK with a private member, makes the
// whole document invalid.
//
// All failures are [CodeInvalidDIDDocument] errors, which map to
// [reason.Malformed].
func ParseDocument(data []byte) (*Document, error) {
	doc, err := parseDocument(data, MaxDocumentSize)
	if err != nil {
		return nil, err
	}
	return doc, nil
}

func parseDocument(data []byte, max int64) (*Document, *ResolutionError) {
	if int64(len(data)) > max {
		return nil, fail(CodeInvalidDIDDocument, "", "document is %d bytes, over the %d byte limit", len(data), max)
	}
	var w wireDocument
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, invalidDoc("", err)
	}
	if !isDID(w.ID) {
		return nil, fail(CodeInvalidDIDDocument, w.ID, "document id is not a DID")
	}
	doc := &Document{
		Context:     w.Context,
		ID:          w.ID,
		Controller:  w.Controller,
		AlsoKnownAs: w.AlsoKnownAs,
	}
	seen := make(map[string]bool)
	add := func(m VerificationMethod) (string, *ResolutionError) {
		if err := doc.checkMethod(&m); err != nil {
			return "", err
		}
		if seen[m.ID] {
			return "", fail(CodeInvalidDIDDocument, doc.ID, "duplicate verification method %s", quoteTrunc(m.ID))
		}
		seen[m.ID] = true
		doc.VerificationMethod = append(doc.VerificationMethod, m)
		return m.ID, nil
	}
	for _, m := range w.VerificationMethod {
		if _, err := add(m); err != nil {
			return nil, err
		}
	}
	rels := []struct {
		in  []json.RawMessage
		out *[]string
	}{
		{w.Authentication, &doc.Authentication},
		{w.AssertionMethod, &doc.AssertionMethod},
		{w.CapabilityInvocation, &doc.CapabilityInvocation},
		{w.CapabilityDelegation, &doc.CapabilityDelegation},
	}
	for _, r := range rels {
		for _, raw := range r.in {
			raw = bytes.TrimSpace(raw)
			var ref string
			switch {
			case len(raw) > 0 && raw[0] == '"':
				if err := json.Unmarshal(raw, &ref); err != nil {
					return nil, invalidDoc(doc.ID, err)
				}
				ref = absolute(ref, doc.ID)
				if !isDIDURLWithFragment(ref) {
					return nil, fail(CodeInvalidDIDDocument, doc.ID, "relationship entry %s is not a DID URL with a fragment", quoteTrunc(ref))
				}
			case len(raw) > 0 && raw[0] == '{':
				var m VerificationMethod
				if err := json.Unmarshal(raw, &m); err != nil {
					return nil, invalidDoc(doc.ID, err)
				}
				var err *ResolutionError
				if ref, err = add(m); err != nil {
					return nil, err
				}
			default:
				return nil, fail(CodeInvalidDIDDocument, doc.ID, "relationship entry is neither a reference nor a method")
			}
			*r.out = append(*r.out, ref)
		}
	}
	return doc, nil
}

// checkMethod validates m for doc, makes its id absolute and pre-decodes
// its key.
func (d *Document) checkMethod(m *VerificationMethod) *ResolutionError {
	m.ID = absolute(m.ID, d.ID)
	if !belongs(m.ID, d.ID) {
		return fail(CodeInvalidDIDDocument, d.ID, "verification method %s does not belong to the document", quoteTrunc(m.ID))
	}
	if m.Type == "" {
		return fail(CodeInvalidDIDDocument, d.ID, "verification method %s has no type", quoteTrunc(m.ID))
	}
	if !isDID(m.Controller) {
		return fail(CodeInvalidDIDDocument, d.ID, "verification method %s has no valid controller", quoteTrunc(m.ID))
	}
	m.key, m.unusable = nil, nil
	pub, err := m.decode()
	switch {
	case err == nil:
		m.key = pub
	case err.Code == CodeInvalidPublicKeyType:
		m.unusable = err
	default:
		return &ResolutionError{Code: CodeInvalidDIDDocument, DID: d.ID, Err: err}
	}
	return nil
}

// invalidDoc funnels JSON errors (including the *ResolutionError of a JWK
// with private members) into CodeInvalidDIDDocument.
func invalidDoc(did string, err error) *ResolutionError {
	return &ResolutionError{Code: CodeInvalidDIDDocument, DID: did, Err: err}
}

// absolute resolves a relative "#fragment" DID URL against did.
func absolute(ref, did string) string {
	if strings.HasPrefix(ref, "#") {
		return did + ref
	}
	return ref
}

// belongs reports whether url is did followed by a non-empty fragment.
func belongs(url, did string) bool {
	return len(url) > len(did)+1 && strings.HasPrefix(url, did) && url[len(did)] == '#' &&
		!strings.Contains(url[len(did)+1:], "#")
}

// isDID reports whether s matches the DID syntax of DID Core:
// "did:" method-name ":" method-specific-id, where method-name is
// [a-z0-9]+ and method-specific-id is idchars and pct-encoded triplets,
// separated by ':' and not ending with one.
func isDID(s string) bool {
	if len(s) > 4096 || !strings.HasPrefix(s, "did:") {
		return false
	}
	rest := s[4:]
	i := strings.IndexByte(rest, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := rest[j]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	msid := rest[i+1:]
	if msid == "" || msid[len(msid)-1] == ':' {
		return false
	}
	for j := 0; j < len(msid); j++ {
		c := msid[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == ':':
		case c == '%':
			if j+2 >= len(msid) || !isHex(msid[j+1]) || !isHex(msid[j+2]) {
				return false
			}
			j += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isDIDURLWithFragment reports whether s is a DID, without path or query,
// followed by a non-empty fragment.
func isDIDURLWithFragment(s string) bool {
	did, frag, ok := strings.Cut(s, "#")
	return ok && frag != "" && !strings.Contains(frag, "#") && isDID(did)
}
