package vc

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/agentid/agentid/vc/jws"
)

// BenchmarkVerifyCredential measures parsing, verifying and decoding a
// vc+jwt against its baseline, a bare ed25519.Verify of the same signing
// input, in the same run. Budget: at most 1.4x the baseline (-cpu 1).
func BenchmarkVerifyCredential(b *testing.B) {
	f := newFixture(b, newEd25519(b))
	tok, _ := jws.Parse(f.credToken)
	b.Logf("payload %d bytes, token %d bytes", len(tok.Payload), len(f.credToken))
	pub := f.issuerKey.Public().(ed25519.PublicKey)
	ctx := context.Background()
	b.Run("baseline-ed25519.Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ed25519.Verify(pub, tok.SigningInput, tok.Signature) {
				b.Fatal("verify")
			}
		}
	})
	b.Run("vc.VerifyCredential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := VerifyCredential(ctx, f.credToken, f.keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-jose-v4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := jose.ParseSigned(f.credToken, []jose.SignatureAlgorithm{jose.EdDSA})
			if err != nil {
				b.Fatal(err)
			}
			p, err := s.Verify(pub)
			if err != nil {
				b.Fatal(err)
			}
			var c Credential
			if err := json.Unmarshal(p, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignCredential measures signing with an in-process key against a
// bare ed25519.Sign of the same bytes.
func BenchmarkSignCredential(b *testing.B) {
	f := newFixture(b, newEd25519(b))
	tok, _ := jws.Parse(f.credToken)
	key := f.issuerKey.(ed25519.PrivateKey)
	b.Run("baseline-ed25519.Sign", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(key, tok.SigningInput)
		}
	})
	b.Run("vc.SignCredential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := SignCredential(f.issuer, f.credential, f.now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
