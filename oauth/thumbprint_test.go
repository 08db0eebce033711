package oauth

import (
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"testing"

	"github.com/agentid/agentid/did"
)

func TestThumbprintVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/thumbprints.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Source     string          `json:"source"`
		JWK        json.RawMessage `json:"jwk"`
		Thumbprint string          `json:"thumbprint"`
	}
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(v.Source, func(t *testing.T) {
			got, err := ThumbprintJWK(v.JWK)
			if err != nil {
				t.Fatal(err)
			}
			if got != v.Thumbprint {
				t.Fatalf("ThumbprintJWK = %s, want %s", got, v.Thumbprint)
			}
			// The keys agentid accepts go through Thumbprint too: both
			// must agree with the RFC.
			pub, err := did.ParsePublicJWK(v.JWK)
			if err != nil {
				return // RSA: not a key type agentid accepts
			}
			got, err = Thumbprint(pub)
			if err != nil || got != v.Thumbprint {
				t.Fatalf("Thumbprint = %s, %v; want %s", got, err, v.Thumbprint)
			}
			got, err = thumbprint("dpop:", pub)
			if err != nil || got != "dpop:"+v.Thumbprint {
				t.Fatalf("thumbprint = %s, %v; want %s", got, err, v.Thumbprint)
			}
		})
	}
}

func TestThumbprintJWKErrors(t *testing.T) {
	for _, in := range []string{`{"kty":"RSA","n":"x"}`, `{"kty":"XYZ"}`, `[]`, `{"kty":"OKP","crv":"Ed25519","x":1}`} {
		if _, err := ThumbprintJWK([]byte(in)); err == nil {
			t.Errorf("ThumbprintJWK(%s) accepted", in)
		}
	}
}

// TestThumbprintFast holds the stack-built Ed25519 thumbprint of CheckProof
// to did.Thumbprint on many keys, and checks what it allocates.
func TestThumbprintFast(t *testing.T) {
	for i := 0; i < 200; i++ {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err1 := did.Thumbprint(pub)
		got, err2 := thumbprint("", pub)
		if err1 != nil || err2 != nil || got != want {
			t.Fatalf("thumbprint %s (%v), did.Thumbprint %s (%v)", got, err2, want, err1)
		}
	}
	key, _, _ := ed25519.GenerateKey(nil)
	var pub crypto.PublicKey = key
	if got, _ := thumbprint(replayPrefix, pub); got[:len(replayPrefix)] != replayPrefix {
		t.Fatalf("thumbprint with a prefix: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = thumbprint(replayPrefix, pub) }); n > 1 {
		t.Fatalf("thumbprint allocates %v times, want 1", n)
	}
	if _, err := thumbprint("", ed25519.PublicKey(make([]byte, 31))); err == nil {
		t.Fatal("a 31-byte key has a thumbprint")
	}
}
