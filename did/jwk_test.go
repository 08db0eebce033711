package did

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestPublicJWKMarshal(t *testing.T) {
	ed := fixedEd25519()
	b, err := json.Marshal(mustJWK(t, ed))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}`
	if string(b) != want {
		t.Fatalf("Ed25519 JWK = %s, want %s", b, want)
	}
	p := newP256(t)
	b, err = json.Marshal(mustJWK(t, p))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := p.Bytes()
	want = `{"kty":"EC","crv":"P-256","x":"` + b64.EncodeToString(u[1:33]) + `","y":"` + b64.EncodeToString(u[33:]) + `"}`
	if string(b) != want {
		t.Fatalf("P-256 JWK = %s, want %s", b, want)
	}
}

func mustJWK(t *testing.T, pub crypto.PublicKey) *JWK {
	t.Helper()
	k, err := PublicJWK(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestThumbprint(t *testing.T) {
	// RFC 8037, appendix A.3.
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	got, err := Thumbprint(ed25519.PublicKey(x))
	if err != nil || got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("Thumbprint = %q, %v", got, err)
	}
	// P-256 and Ed25519 agree with go-jose's RFC 7638 implementation.
	for _, pub := range []crypto.PublicKey{newP256(t), newEd25519(t)} {
		jk := jose.JSONWebKey{Key: pub}
		tp, err := jk.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Thumbprint(pub)
		if err != nil || got != b64.EncodeToString(tp) {
			t.Fatalf("Thumbprint(%T) = %q, %v; go-jose says %q", pub, got, err, b64.EncodeToString(tp))
		}
	}
}

func TestJWKDIDRoundTrip(t *testing.T) {
	for _, pub := range []crypto.PublicKey{fixedEd25519(), newP256(t)} {
		id, err := JWKFromPublic(pub)
		if err != nil {
			t.Fatal(err)
		}
		got, err := PublicKeyFromJWK(id)
		if err != nil || !equalKeys(got, pub) {
			t.Fatalf("PublicKeyFromJWK(%s) = %v, %v", id, got, err)
		}
		// go-jose reads the same JWK back to the same key.
		data, _ := b64.DecodeString(strings.TrimPrefix(id, "did:jwk:"))
		var jk jose.JSONWebKey
		if err := jk.UnmarshalJSON(data); err != nil || !equalKeys(jk.Key, pub) {
			t.Fatalf("go-jose reads %s as %v, %v", data, jk.Key, err)
		}
	}
	// did:jwk specification example (P-256).
	const spec = "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9"
	pub, err := PublicKeyFromJWK(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		t.Fatalf("spec example decodes to %T", pub)
	}
}

func jwkDID(s string) string { return "did:jwk:" + b64.EncodeToString([]byte(s)) }

func TestPublicKeyFromJWKErrors(t *testing.T) {
	ed := mustJWK(t, fixedEd25519())
	p := mustJWK(t, newP256(t))
	offX := b64.EncodeToString(make([]byte, 32))
	tests := []struct {
		name string
		did  string
		code string
	}{
		{"wrong method", "did:key:" + jwkDID("{}")[8:], CodeInvalidDID},
		{"empty", "did:jwk:", CodeInvalidDID},
		{"padding", jwkDID(`{"kty":"OKP"}`) + "=", CodeInvalidDID},
		{"standard base64", "did:jwk:" + base64.StdEncoding.EncodeToString([]byte(`{"kty":"OKP","crv":"Ed25519","x":"`+ed.X+`"}`+"\xff\xfe")), CodeInvalidDID},
		{"newline", jwkDID(`{"kty":"OKP"}`)[:12] + "\n" + jwkDID(`{"kty":"OKP"}`)[12:], CodeInvalidDID},
		{"not JSON", jwkDID(`kty=OKP`), CodeInvalidDID},
		{"JSON array", jwkDID(`[]`), CodeInvalidPublicKey},
		{"trailing JSON", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `"}{}`), CodeInvalidDID},
		{"kty number", jwkDID(`{"kty":1}`), CodeInvalidPublicKey},
		{"too long", "did:jwk:" + strings.Repeat("A", 3000), CodeInvalidDID},
		{"no kty", jwkDID(`{"crv":"Ed25519","x":"` + ed.X + `"}`), CodeInvalidPublicKey},
		{"OKP no crv", jwkDID(`{"kty":"OKP","x":"` + ed.X + `"}`), CodeInvalidPublicKey},
		{"EC no crv", jwkDID(`{"kty":"EC","x":"` + p.X + `","y":"` + p.Y + `"}`), CodeInvalidPublicKey},
		{"Ed25519 short x", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X[:40] + `"}`), CodeInvalidPublicKey},
		{"Ed25519 padded x", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `="}`), CodeInvalidPublicKey},
		{"Ed25519 std alphabet", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + strings.Repeat("+", 43) + `"}`), CodeInvalidPublicKey},
		{"Ed25519 with y", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `","y":"` + ed.X + `"}`), CodeInvalidPublicKey},
		{"Ed25519 private", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `","d":"` + ed.X + `"}`), CodeInvalidPublicKey},
		{"private upper-case D", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `","D":"` + ed.X + `"}`), CodeInvalidPublicKey},
		{"private null d", jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `","d":null}`), CodeInvalidPublicKey},
		{"P-256 private", jwkDID(`{"kty":"EC","crv":"P-256","x":"` + p.X + `","y":"` + p.Y + `","d":"` + p.X + `"}`), CodeInvalidPublicKey},
		{"P-256 no y", jwkDID(`{"kty":"EC","crv":"P-256","x":"` + p.X + `"}`), CodeInvalidPublicKey},
		{"P-256 off curve", jwkDID(`{"kty":"EC","crv":"P-256","x":"` + offX + `","y":"` + offX + `"}`), CodeInvalidPublicKey},
		{"P-256 swapped", jwkDID(`{"kty":"EC","crv":"P-256","x":"` + p.Y + `","y":"` + p.X + `"}`), CodeInvalidPublicKey},
		{"P-256 long x", jwkDID(`{"kty":"EC","crv":"P-256","x":"AA` + p.X + `","y":"` + p.Y + `"}`), CodeInvalidPublicKey},
		{"oct key", jwkDID(`{"kty":"oct","k":"AAAA"}`), CodeInvalidPublicKey},
		{"X25519", jwkDID(`{"kty":"OKP","crv":"X25519","x":"` + ed.X + `"}`), CodeInvalidPublicKeyType},
		{"P-384", jwkDID(`{"kty":"EC","crv":"P-384","x":"` + p.X + `","y":"` + p.Y + `"}`), CodeInvalidPublicKeyType},
		{"secp256k1", jwkDID(`{"kty":"EC","crv":"secp256k1","x":"` + p.X + `","y":"` + p.Y + `"}`), CodeInvalidPublicKeyType},
		{"RSA", jwkDID(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), CodeInvalidPublicKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := PublicKeyFromJWK(tt.did)
			if pub != nil {
				t.Fatalf("got key %v", pub)
			}
			wantCode(t, err, tt.code)
		})
	}
}

func TestJWKOptionalMembers(t *testing.T) {
	ed := mustJWK(t, fixedEd25519())
	// kid, alg, use and key_ops are tolerated.
	id := jwkDID(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `","kid":"k1","alg":"EdDSA","use":"sig","key_ops":["verify"]}`)
	if _, err := PublicKeyFromJWK(id); err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicJWK([]byte(`{"kty":"OKP","crv":"Ed25519","x":"` + ed.X + `"}`))
	if err != nil || !equalKeys(pub, fixedEd25519()) {
		t.Fatalf("ParsePublicJWK = %v, %v", pub, err)
	}
	_, err = ParsePublicJWK([]byte(`{"kty":`))
	wantCode(t, err, CodeInvalidPublicKey)
	var nilJWK *JWK
	_, err = nilJWK.PublicKey()
	wantCode(t, err, CodeInvalidPublicKey)
}
