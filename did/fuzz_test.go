package did

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// checkErr asserts that a failure is a *ResolutionError with a known code.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var re *ResolutionError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *ResolutionError", err, err)
	}
	switch re.Code {
	case CodeInvalidDID, CodeNotFound, CodeMethodNotSupported, CodeInvalidDIDDocument,
		CodeInternalError, CodeInvalidPublicKey, CodeInvalidPublicKeyType:
	default:
		t.Fatalf("unknown code %q", re.Code)
	}
}

// checkKey asserts pub is one of the two supported key types, valid.
func checkKey(t *testing.T, pub any) {
	t.Helper()
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			t.Fatalf("Ed25519 key of %d bytes", len(k))
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			t.Fatal("non-P-256 ECDSA key")
		}
		if _, err := k.Bytes(); err != nil {
			t.Fatalf("invalid P-256 key: %v", err)
		}
	default:
		t.Fatalf("key of type %T", pub)
	}
}

// vectorSeeds returns the DIDs and documents in the W3C vectors.
func vectorSeeds(f *testing.F) (dids []string, docs [][]byte) {
	for _, name := range []string{"ed25519-x25519.json", "nist-curves.json"} {
		data, err := os.ReadFile(filepath.Join(vectorDir(f), name))
		if err != nil {
			f.Fatal(err)
		}
		var v map[string]struct {
			DIDDocument json.RawMessage `json:"didDocument"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			f.Fatal(err)
		}
		for id, e := range v {
			dids = append(dids, id)
			docs = append(docs, e.DIDDocument)
		}
	}
	return dids, docs
}

func FuzzPublicKeyFromKey(f *testing.F) {
	dids, _ := vectorSeeds(f)
	for _, d := range dids {
		f.Add(d)
	}
	f.Add(mbKey(f, []byte{0x80, 0x24}, offCurveX(f)))
	f.Add("did:key:z")
	f.Add("did:key:z6Mk")
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := PublicKeyFromKey(s)
		if err != nil {
			if pub != nil {
				t.Fatal("key and error")
			}
			checkErr(t, err)
			return
		}
		checkKey(t, pub)
		// Decoding is canonical: the key encodes back to the same DID.
		back, err := KeyFromPublic(pub)
		if err != nil || back != s {
			t.Fatalf("KeyFromPublic = %q, %v; want %q", back, err, s)
		}
		kid := s + "#" + s[len(keyPrefix):]
		doc, err := NewKeyDocument(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := doc.PublicKey(kid, AssertionMethod); err != nil || !equalKeys(got, pub) {
			t.Fatalf("document key %v, %v", got, err)
		}
	})
}

func FuzzPublicKeyFromJWK(f *testing.F) {
	ed, _ := PublicJWK(fixedEd25519())
	edJSON, _ := json.Marshal(ed)
	f.Add(edJSON)
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns","y":"efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns","y":"efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM","d":"gPh-VvVS8MbvKQ9LSVVmfnxnKjHn4Tqj0bmbpehRlpc"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"X25519","x":"` + ed.X + `"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","use":"enc","x":"` + ed.X + `"}`))
	f.Add([]byte("did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The input as a DID.
		if pub, err := PublicKeyFromJWK(string(data)); err != nil {
			checkErr(t, err)
		} else {
			checkKey(t, pub)
		}
		// The input as a JWK, directly and wrapped in a did:jwk: both
		// paths must agree.
		pub1, err1 := ParsePublicJWK(data)
		pub2, err2 := PublicKeyFromJWK(jwkPrefix + b64.EncodeToString(data))
		if (err1 == nil) != (err2 == nil) && len(data) < maxJWKDIDLen/2 {
			t.Fatalf("ParsePublicJWK: %v; PublicKeyFromJWK: %v", err1, err2)
		}
		if err1 != nil {
			checkErr(t, err1)
			return
		}
		checkKey(t, pub1)
		if err2 == nil && !equalKeys(pub1, pub2) {
			t.Fatal("paths disagree on the key")
		}
		// Re-encoding gives a DID that decodes to the same key.
		id, err := JWKFromPublic(pub1)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := PublicKeyFromJWK(id); err != nil || !equalKeys(back, pub1) {
			t.Fatalf("round trip: %v, %v", back, err)
		}
		if _, err := Thumbprint(pub1); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseDocument(f *testing.F) {
	_, docs := vectorSeeds(f)
	for _, d := range docs {
		f.Add([]byte(d))
	}
	web := NewWebDocument(webDID, []WebKey{{ID: "k1", Public: fixedEd25519()}})
	b, _ := json.Marshal(web)
	f.Add(b)
	f.Add(docJSON(`{"id":"#k1","type":"Multikey","controller":"`+webDID+`","publicKeyMultibase":"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"}`,
		`"assertionMethod":["#k1",{"id":"#k2","type":"JsonWebKey","controller":"`+webDID+`","publicKeyJwk":{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDocument(data)
		if err != nil {
			if doc != nil {
				t.Fatal("document and error")
			}
			checkErr(t, err)
			return
		}
		// A parsed document marshals to one that parses to the same keys.
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		doc2, err := ParseDocument(out)
		if err != nil {
			if len(out) > MaxDocumentSize {
				return // Escaping can grow the document past the limit.
			}
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		for _, m := range doc.VerificationMethod {
			for _, rel := range []Relationship{Authentication, AssertionMethod, CapabilityInvocation, CapabilityDelegation} {
				p1, e1 := doc.PublicKey(m.ID, rel)
				p2, e2 := doc2.PublicKey(m.ID, rel)
				if (e1 == nil) != (e2 == nil) || e1 == nil && !equalKeys(p1, p2) {
					t.Fatalf("%s/%s: %v, %v vs %v, %v", m.ID, rel, p1, e1, p2, e2)
				}
				if e1 != nil {
					checkErr(t, e1)
				} else {
					checkKey(t, p1)
				}
			}
		}
		out2, _ := json.Marshal(doc2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("marshal not stable:\n%s\n%s", out, out2)
		}
	})
}

func FuzzWebURL(f *testing.F) {
	for _, s := range []string{
		"did:web:example.com", "did:web:example.com%3A8443", "did:web:example.com:user:alice",
		"did:web:localhost%3A8080", "did:web:127.0.0.1", "did:web:example.com:..:x",
		"did:web:example.com:.well-known", "https://issuer.example.com/tenants/a",
		"http://localhost:8080", "https://example.com/.well-known/did.json",
		"https://example.com/a/did.json", "https://[::1]/", "https://example.com:0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := WebURL(s); err != nil {
			checkErr(t, err)
		} else if back, err := WebDID(u); err != nil || back != s {
			t.Fatalf("WebDID(WebURL(%q) = %q) = %q, %v", s, u, back, err)
		}
		d, err := WebDID(s)
		if err != nil {
			checkErr(t, err)
			return
		}
		u, err := WebURL(d)
		if err != nil {
			t.Fatalf("WebURL(WebDID(%q) = %q): %v", s, d, err)
		}
		if back, err := WebDID(u); err != nil || back != d {
			t.Fatalf("WebDID(%q) = %q, %v; want %q", u, back, err, d)
		}
	})
}
