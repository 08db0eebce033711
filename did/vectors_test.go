package did

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentid/agentid/reason"
	"github.com/multiformats/go-multibase"
)

// vectorMethod is a verification method or key pair from the W3C vectors.
type vectorMethod struct {
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Controller      string          `json:"controller"`
	PublicKeyBase58 string          `json:"publicKeyBase58"`
	PublicKeyJwk    json.RawMessage `json:"publicKeyJwk"`
	PrivateKeyJwk   json.RawMessage `json:"privateKeyJwk"`
}

type vectorEntry struct {
	Seed                string          `json:"seed"`
	VerificationKeyPair *vectorMethod   `json:"verificationKeyPair"`
	KeyAgreementKeyPair *vectorMethod   `json:"keyAgreementKeyPair"`
	VerificationMethod  *vectorMethod   `json:"verificationMethod"`
	DIDDocument         json.RawMessage `json:"didDocument"`
}

func loadVectors(t *testing.T, name string) map[string]vectorEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]vectorEntry
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(v) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return v
}

// vectorKey decodes the public key a vector method states, in whichever
// representation it uses. curve selects how raw base58 bytes are read.
func vectorKey(t *testing.T, m *vectorMethod, p256 bool) crypto.PublicKey {
	t.Helper()
	if m.PublicKeyJwk != nil {
		pub, err := ParsePublicJWK(m.PublicKeyJwk)
		if err != nil {
			t.Fatalf("vector JWK: %v", err)
		}
		return pub
	}
	_, raw, err := multibase.Decode("z" + m.PublicKeyBase58)
	if err != nil {
		t.Fatalf("vector base58: %v", err)
	}
	if !p256 {
		return ed25519.PublicKey(raw)
	}
	x, y := elliptic.UnmarshalCompressed(elliptic.P256(), raw)
	if x == nil {
		t.Fatal("vector P-256 key is not a compressed point")
	}
	u := append(append([]byte{4}, x.FillBytes(make([]byte, 32))...), y.FillBytes(make([]byte, 32))...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), u)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func equalKeys(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// checkSupported runs every check for a vector whose key we support.
func checkSupported(t *testing.T, id string, m *vectorMethod, docJSON []byte, p256 bool) {
	want := vectorKey(t, m, p256)
	got, err := PublicKeyFromKey(id)
	if err != nil {
		t.Fatalf("PublicKeyFromKey: %v", err)
	}
	if !equalKeys(got, want) {
		t.Fatalf("PublicKeyFromKey = %v, want %v", got, want)
	}
	if _, isP256 := got.(*ecdsa.PublicKey); isP256 != p256 {
		t.Fatalf("key type %T", got)
	}
	enc, err := KeyFromPublic(want)
	if err != nil || enc != id {
		t.Fatalf("KeyFromPublic = %q, %v; want %q", enc, err, id)
	}

	// The vector's method id, made absolute, is the id we generate.
	wantVM := absolute(m.ID, id)
	doc, err := NewKeyDocument(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.VerificationMethod) != 1 || doc.VerificationMethod[0].ID != wantVM {
		t.Fatalf("NewKeyDocument method ids = %+v, want %s", doc.VerificationMethod, wantVM)
	}
	for _, rel := range []Relationship{Authentication, AssertionMethod, CapabilityInvocation, CapabilityDelegation} {
		pub, err := doc.PublicKey(wantVM, rel)
		if err != nil || !equalKeys(pub, want) {
			t.Fatalf("doc.PublicKey(%s) = %v, %v", rel, pub, err)
		}
		pub, err = NewMultiResolver(nil).ResolveKey(context.Background(), wantVM, rel)
		if err != nil || !equalKeys(pub, want) {
			t.Fatalf("ResolveKey(%s) = %v, %v", rel, pub, err)
		}
	}
	// Our document survives a JSON round trip through ParseDocument.
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDocument(b); err != nil {
		t.Fatalf("ParseDocument(our document): %v", err)
	}

	// The vector's own document parses; its first method is the key, usable
	// when expressed as a JWK, refused (not mis-read) as publicKeyBase58.
	vdoc, err := ParseDocument(docJSON)
	if err != nil {
		t.Fatalf("ParseDocument(vector document): %v", err)
	}
	if vdoc.ID != id || len(vdoc.VerificationMethod) == 0 || vdoc.VerificationMethod[0].ID != wantVM {
		t.Fatalf("vector document: id %s, methods %+v", vdoc.ID, vdoc.VerificationMethod)
	}
	pub, err := vdoc.PublicKey(wantVM, AssertionMethod)
	if vdoc.VerificationMethod[0].PublicKeyJwk != nil {
		if err != nil || !equalKeys(pub, want) {
			t.Fatalf("vector document key = %v, %v", pub, err)
		}
	} else {
		wantCode(t, err, CodeInvalidPublicKeyType)
	}

	// Private JWKs in the vectors are refused as public keys.
	if m.PrivateKeyJwk != nil {
		_, err := ParsePublicJWK(m.PrivateKeyJwk)
		wantCode(t, err, CodeInvalidPublicKey)
	}
}

// checkUnsupported asserts a DID of an unsupported key type fails cleanly
// everywhere.
func checkUnsupported(t *testing.T, id string, docJSON []byte) {
	pub, err := PublicKeyFromKey(id)
	if pub != nil {
		t.Fatalf("PublicKeyFromKey returned a key: %v", pub)
	}
	wantCode(t, err, CodeInvalidPublicKeyType)
	if !errors.Is(err, reason.UnknownKey) {
		t.Fatalf("error %v does not map to unknown_key", err)
	}
	frag := id[len("did:key:"):]
	_, err = NewMultiResolver(nil).ResolveKey(context.Background(), id+"#"+frag, AssertionMethod)
	wantCode(t, err, CodeInvalidPublicKeyType)
	_, err = NewKeyDocument(id)
	wantCode(t, err, CodeInvalidPublicKeyType)
	if docJSON != nil {
		doc, err := ParseDocument(docJSON)
		if err != nil {
			t.Fatalf("ParseDocument(vector document): %v", err)
		}
		_, err = doc.PublicKey(id+"#"+frag, AssertionMethod)
		wantCode(t, err, CodeInvalidPublicKeyType)
	}
}

func TestVectorsEd25519X25519(t *testing.T) {
	var ed, x int
	for id, v := range loadVectors(t, "ed25519-x25519.json") {
		t.Run(id, func(t *testing.T) {
			if !strings.HasPrefix(id, "did:key:z6Mk") || v.VerificationKeyPair == nil {
				t.Fatalf("unexpected vector shape")
			}
			checkSupported(t, id, v.VerificationKeyPair, v.DIDDocument, false)
			if v.Seed != "" {
				seed, err := hex.DecodeString(v.Seed)
				if err != nil {
					t.Fatal(err)
				}
				want := ed25519.NewKeyFromSeed(seed).Public()
				if got, _ := PublicKeyFromKey(id); !equalKeys(got, want) {
					t.Fatalf("key does not match the seed")
				}
			}
			ed++
			// The X25519 key agreement key, as its own did:key, is refused.
			ka := v.KeyAgreementKeyPair
			if ka == nil || !strings.Contains(ka.ID, "#z6LS") {
				t.Fatalf("missing X25519 key agreement key")
			}
			_, frag, _ := strings.Cut(ka.ID, "#")
			checkUnsupported(t, "did:key:"+frag, nil)
			x++
		})
	}
	if ed != 5 || x != 5 {
		t.Fatalf("checked %d Ed25519 and %d X25519 vectors, want 5 and 5", ed, x)
	}
}

func TestVectorsNISTCurves(t *testing.T) {
	counts := map[string]int{}
	for id, v := range loadVectors(t, "nist-curves.json") {
		t.Run(id, func(t *testing.T) {
			m := v.VerificationMethod
			if m == nil {
				t.Fatal("unexpected vector shape")
			}
			var crv string
			if m.PublicKeyJwk != nil {
				var j struct{ Crv string }
				if err := json.Unmarshal(m.PublicKeyJwk, &j); err != nil {
					t.Fatal(err)
				}
				crv = j.Crv
			} else if m.Type == "P256Key2021" {
				crv = "P-256"
			}
			switch {
			case strings.HasPrefix(id, "did:key:zDn") && crv == "P-256":
				checkSupported(t, id, m, v.DIDDocument, true)
			case strings.HasPrefix(id, "did:key:z82") && crv == "P-384",
				strings.HasPrefix(id, "did:key:z2J9") && crv == "P-521":
				checkUnsupported(t, id, v.DIDDocument)
				if m.PublicKeyJwk != nil {
					_, err := ParsePublicJWK(m.PublicKeyJwk)
					wantCode(t, err, CodeInvalidPublicKeyType)
				}
			default:
				t.Fatalf("unexpected vector: prefix/curve %q", crv)
			}
			counts[crv]++
		})
	}
	if counts["P-256"] != 3 || counts["P-384"] != 2 || counts["P-521"] != 2 {
		t.Fatalf("vector counts %v", counts)
	}
}
