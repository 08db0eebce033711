package did

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agentid/agentid/reason"
)

const webDID = "did:web:issuer.example.com"

// docJSON builds a did:web document whose methods and relationship
// entries are given as raw JSON.
func docJSON(methods string, rels string) []byte {
	s := `{"@context":["https://www.w3.org/ns/did/v1"],"id":"` + webDID + `","verificationMethod":[` + methods + `]`
	if rels != "" {
		s += "," + rels
	}
	return []byte(s + "}")
}

func jwkMethod(id, typ, controller, jwk string) string {
	return fmt.Sprintf(`{"id":%q,"type":%q,"controller":%q,"publicKeyJwk":%s}`, id, typ, controller, jwk)
}

func TestParseDocumentAndPublicKey(t *testing.T) {
	ed := mustJWK(t, fixedEd25519())
	edJSON, _ := json.Marshal(ed)
	p := newP256(t)
	pJSON, _ := json.Marshal(mustJWK(t, p))
	mb, _ := KeyFromPublic(fixedEd25519())
	mb = strings.TrimPrefix(mb, "did:key:")
	x25519 := `{"kty":"OKP","crv":"X25519","x":"` + ed.X + `"}`

	data := docJSON(
		jwkMethod(webDID+"#k1", "JsonWebKey", webDID, string(edJSON))+","+
			jwkMethod("#k2", "JsonWebKey2020", webDID, string(pJSON))+","+
			`{"id":"#k3","type":"Multikey","controller":"`+webDID+`","publicKeyMultibase":"`+mb+`"}`+","+
			`{"id":"#k4","type":"Ed25519VerificationKey2018","controller":"`+webDID+`","publicKeyBase58":"abc"}`+","+
			jwkMethod("#x", "JsonWebKey", webDID, x25519)+","+
			jwkMethod("#other", "JsonWebKey", "did:web:other.example", string(edJSON))+","+
			jwkMethod("#mismatch", "Multikey", webDID, string(edJSON)),
		`"assertionMethod":["#k1","`+webDID+`#k2","#k3","#k4","#x","#other","#mismatch","#absent",`+
			jwkMethod("#emb", "JsonWebKey", webDID, string(edJSON))+`],`+
			`"authentication":["#k1"],"capabilityInvocation":[],"keyAgreement":["#x"],"service":[{"id":"#s"}]`)
	doc, err := ParseDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.VerificationMethod) != 8 || doc.VerificationMethod[7].ID != webDID+"#emb" {
		t.Fatalf("methods: %+v", doc.VerificationMethod)
	}
	for _, id := range doc.AssertionMethod {
		if !strings.HasPrefix(id, webDID+"#") {
			t.Fatalf("reference %q was not made absolute", id)
		}
	}
	tests := []struct {
		kid  string
		rel  Relationship
		code string // "" for success
	}{
		{webDID + "#k1", AssertionMethod, ""},
		{"#k1", AssertionMethod, ""},
		{"#k1", Authentication, ""},
		{"#k2", AssertionMethod, ""},
		{"#k3", AssertionMethod, ""},
		{"#emb", AssertionMethod, ""},
		{"#k2", Authentication, CodeNotFound},       // not listed there
		{"#k1", CapabilityInvocation, CodeNotFound}, // empty list
		{"#k1", Relationship("keyAgreement"), CodeNotFound},
		{"#k1", Relationship(""), CodeNotFound},
		{"#absent", AssertionMethod, CodeNotFound}, // listed, not defined
		{"#nope", AssertionMethod, CodeNotFound},
		{"#other", AssertionMethod, CodeNotFound}, // foreign controller
		{"did:web:other.example#k1", AssertionMethod, CodeNotFound},
		{webDID + "x#k1", AssertionMethod, CodeNotFound},
		{webDID, AssertionMethod, CodeNotFound},
		{webDID + "#", AssertionMethod, CodeNotFound},
		{"k1", AssertionMethod, CodeNotFound},
		{"", AssertionMethod, CodeNotFound},
		{"#k4", AssertionMethod, CodeInvalidPublicKeyType},       // publicKeyBase58
		{"#x", AssertionMethod, CodeInvalidPublicKeyType},        // X25519
		{"#mismatch", AssertionMethod, CodeInvalidPublicKeyType}, // JWK in a Multikey
	}
	for _, tt := range tests {
		t.Run(tt.kid+"/"+string(tt.rel), func(t *testing.T) {
			pub, err := doc.PublicKey(tt.kid, tt.rel)
			if tt.code == "" {
				if err != nil || pub == nil {
					t.Fatalf("PublicKey = %v, %v", pub, err)
				}
				return
			}
			if pub != nil {
				t.Fatalf("got key %v", pub)
			}
			wantCode(t, err, tt.code)
			if !errors.Is(err, reason.UnknownKey) {
				t.Fatalf("not unknown_key: %v", err)
			}
		})
	}
	// A Document built by hand (no cached keys) works the same way.
	var hand Document
	if err := json.Unmarshal(docJSON(jwkMethod("#k1", "JsonWebKey", webDID, string(edJSON)), `"assertionMethod":["#k1"]`), &hand); err != nil {
		t.Fatal(err)
	}
	if pub, err := hand.PublicKey("#k1", AssertionMethod); err != nil || !equalKeys(pub, fixedEd25519()) {
		t.Fatalf("hand-built document: %v, %v", pub, err)
	}
	var nilDoc *Document
	_, err = nilDoc.PublicKey("#k1", AssertionMethod)
	wantCode(t, err, CodeNotFound)
	_, err = (&Document{}).PublicKey("#k1", AssertionMethod)
	wantCode(t, err, CodeNotFound)
}

func TestParseDocumentErrors(t *testing.T) {
	ed := mustJWK(t, fixedEd25519())
	edJSON, _ := json.Marshal(ed)
	good := jwkMethod("#k1", "JsonWebKey", webDID, string(edJSON))
	offX := b64.EncodeToString(make([]byte, 32))
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not JSON", []byte("hello")},
		{"JSON array", []byte("[]")},
		{"truncated", docJSON(good, "")[:50]},
		{"too big", []byte(`{"id":"` + webDID + `","x":"` + strings.Repeat("a", MaxDocumentSize) + `"}`)},
		{"no id", []byte(`{"verificationMethod":[]}`)},
		{"id not a DID", []byte(`{"id":"https://example.com"}`)},
		{"id with fragment", []byte(`{"id":"` + webDID + `#x"}`)},
		{"id upper-case method", []byte(`{"id":"did:WEB:example.com"}`)},
		{"id bad escape", []byte(`{"id":"did:web:example.com%zz"}`)},
		{"id number", []byte(`{"id":5}`)},
		{"methods not array", []byte(`{"id":"` + webDID + `","verificationMethod":{}}`)},
		{"method of other DID", docJSON(jwkMethod("did:web:evil.example#k1", "JsonWebKey", webDID, string(edJSON)), "")},
		{"method id without fragment", docJSON(jwkMethod(webDID, "JsonWebKey", webDID, string(edJSON)), "")},
		{"method id prefix trick", docJSON(jwkMethod(webDID+".evil#k1", "JsonWebKey", webDID, string(edJSON)), "")},
		{"method id empty fragment", docJSON(jwkMethod("#", "JsonWebKey", webDID, string(edJSON)), "")},
		{"method id two fragments", docJSON(jwkMethod("#a#b", "JsonWebKey", webDID, string(edJSON)), "")},
		{"method no type", docJSON(jwkMethod("#k1", "", webDID, string(edJSON)), "")},
		{"method no controller", docJSON(jwkMethod("#k1", "JsonWebKey", "", string(edJSON)), "")},
		{"method bad controller", docJSON(jwkMethod("#k1", "JsonWebKey", "https://x", string(edJSON)), "")},
		{"duplicate method", docJSON(good+","+good, "")},
		{"duplicate via embedding", docJSON(good, `"authentication":[`+good+`]`)},
		{"private JWK", docJSON(jwkMethod("#k1", "JsonWebKey", webDID, `{"kty":"OKP","crv":"Ed25519","x":"`+ed.X+`","d":"`+ed.X+`"}`), "")},
		{"off-curve JWK", docJSON(jwkMethod("#k1", "JsonWebKey", webDID, `{"kty":"EC","crv":"P-256","x":"`+offX+`","y":"`+offX+`"}`), "")},
		{"short JWK", docJSON(jwkMethod("#k1", "JsonWebKey", webDID, `{"kty":"OKP","crv":"Ed25519","x":"AAAA"}`), "")},
		{"JWK not object", docJSON(jwkMethod("#k1", "JsonWebKey", webDID, `"x"`), "")},
		{"bad multibase", docJSON(`{"id":"#k1","type":"Multikey","controller":"`+webDID+`","publicKeyMultibase":"z0OIl"}`, "")},
		{"both key forms", docJSON(`{"id":"#k1","type":"JsonWebKey","controller":"`+webDID+`","publicKeyMultibase":"z6Mk","publicKeyJwk":`+string(edJSON)+`}`, "")},
		{"relationship number", docJSON(good, `"assertionMethod":[1]`)},
		{"relationship null", docJSON(good, `"assertionMethod":[null]`)},
		{"relationship not DID URL", docJSON(good, `"assertionMethod":["k1"]`)},
		{"relationship without fragment", docJSON(good, `"assertionMethod":["`+webDID+`"]`)},
		{"relationship not array", docJSON(good, `"assertionMethod":"#k1"`)},
		{"embedded method of other DID", docJSON(good, `"assertionMethod":[`+jwkMethod("did:web:evil.example#k", "JsonWebKey", webDID, string(edJSON))+`]`)},
		{"embedded method bad JSON type", docJSON(good, `"assertionMethod":[{"id":1}]`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := ParseDocument(tt.data)
			if doc != nil {
				t.Fatalf("got document %+v", doc)
			}
			wantCode(t, err, CodeInvalidDIDDocument)
			if !errors.Is(err, reason.Malformed) {
				t.Fatalf("not malformed: %v", err)
			}
		})
	}
}

func TestNewWebDocument(t *testing.T) {
	ed, p := fixedEd25519(), newP256(t)
	doc := NewWebDocument(webDID, []WebKey{
		{ID: "k1", Public: ed},
		{ID: "k2", Public: p},
		{ID: "k1", Public: p},       // duplicate: dropped
		{ID: "", Public: p},         // no id: dropped
		{ID: "a#b", Public: p},      // bad id: dropped
		{ID: "bad", Public: "nope"}, // bad key: dropped
	})
	if len(doc.VerificationMethod) != 2 || len(doc.AssertionMethod) != 2 || len(doc.Authentication) != 2 {
		t.Fatalf("document: %+v", doc)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	for kid, want := range map[string]any{webDID + "#k1": ed, webDID + "#k2": p} {
		for _, d := range []*Document{doc, parsed} {
			got, err := d.PublicKey(kid, AssertionMethod)
			if err != nil || !equalKeys(got, want) {
				t.Fatalf("PublicKey(%s) = %v, %v", kid, got, err)
			}
		}
	}
	if _, err := parsed.PublicKey("#k1", CapabilityDelegation); err == nil {
		t.Fatal("issuer key usable for capabilityDelegation")
	}
}

func TestNewKeyDocumentJSON(t *testing.T) {
	id, _ := KeyFromPublic(fixedEd25519())
	doc, err := NewKeyDocument(id)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(doc)
	vm := id + "#" + strings.TrimPrefix(id, "did:key:")
	want := `{"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/jwk/v1"],"id":"` + id +
		`","verificationMethod":[{"id":"` + vm + `","type":"JsonWebKey","controller":"` + id +
		`","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}}],` +
		`"authentication":["` + vm + `"],"assertionMethod":["` + vm + `"],"capabilityInvocation":["` + vm + `"],"capabilityDelegation":["` + vm + `"]}`
	if string(got) != want {
		t.Fatalf("document JSON\n got %s\nwant %s", got, want)
	}
}

func TestNewJWKDocument(t *testing.T) {
	id, _ := JWKFromPublic(fixedEd25519())
	doc, err := NewJWKDocument(id)
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := doc.PublicKey(id+"#0", AssertionMethod); err != nil || !equalKeys(pub, fixedEd25519()) {
		t.Fatalf("PublicKey = %v, %v", pub, err)
	}
	ed := mustJWK(t, fixedEd25519())
	enc := jwkDID(`{"kty":"OKP","crv":"Ed25519","use":"enc","x":"` + ed.X + `"}`)
	doc, err = NewJWKDocument(enc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = doc.PublicKey("#0", AssertionMethod)
	wantCode(t, err, CodeNotFound)
	_, err = NewJWKDocument("did:jwk:!!")
	wantCode(t, err, CodeInvalidDID)
}
