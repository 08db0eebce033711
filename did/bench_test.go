package did

import (
	"context"
	"testing"
)

func BenchmarkPublicKeyFromKeyEd25519(b *testing.B) {
	id, _ := KeyFromPublic(newEd25519(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PublicKeyFromKey(id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublicKeyFromKeyP256(b *testing.B) {
	id, _ := KeyFromPublic(newP256(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PublicKeyFromKey(id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveKeyDIDKey(b *testing.B) {
	id, _ := KeyFromPublic(newEd25519(b))
	kid := id + "#" + id[len(keyPrefix):]
	r := NewMultiResolver(nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ResolveKey(ctx, kid, AssertionMethod); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyFromPublicEd25519(b *testing.B) {
	pub := newEd25519(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := KeyFromPublic(pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveKeyDIDWebCached(b *testing.B) {
	const id = "did:web:issuer.example.com"
	r := NewWebResolver(WebOptions{})
	r.store(id, NewWebDocument(id, []WebKey{{ID: "k1", Public: newP256(b)}}))
	m := NewMultiResolver(r)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.ResolveKey(ctx, id+"#k1", AssertionMethod); err != nil {
			b.Fatal(err)
		}
	}
}
