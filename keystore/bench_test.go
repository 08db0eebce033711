package keystore

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// BenchmarkSign compares Signer.Sign with a bare crypto/ed25519 signature
// over the same 1 KiB message, to keep the Tink wrapper's overhead visible.
func BenchmarkSign(b *testing.B) {
	msg := make([]byte, 1024)
	if _, err := rand.Read(msg); err != nil {
		b.Fatal(err)
	}
	b.Run("ed25519.Sign-baseline", func(b *testing.B) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			_ = ed25519.Sign(priv, msg)
		}
	})
	for _, tc := range []struct {
		name string
		alg  Algorithm
	}{
		{"keystore-Ed25519", Ed25519},
		{"keystore-ES256", ES256},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchSigner(b, tc.alg)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSigner returns a signer obtained through a real Store, so the
// benchmark measures the path production code takes.
func benchSigner(b *testing.B, alg Algorithm) *Signer {
	b.Helper()
	s := newTestStore(b, nil)
	if err := s.Create(b.Context(), "bench", alg); err != nil {
		b.Fatal(err)
	}
	sg, err := s.Signer(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	return sg
}

// BenchmarkStoreSigner measures Store.Signer on a warm cache: one bbolt read
// transaction and a generation check, no decryption.
func BenchmarkStoreSigner(b *testing.B) {
	s := newTestStore(b, nil)
	if err := s.Create(b.Context(), "bench", Ed25519); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Signer(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
