package oauth

import (
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
