package oauth

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
)

func FuzzParseAccessToken(f *testing.F) {
	k := ed25519.NewKeyFromSeed(make([]byte, 32))
	s, _ := vc.NewKeySigner(k, "did:web:issuer.example.com#k1")
	tok, _ := SignAccessToken(s, &AccessToken{Issuer: "https://issuer.example.com", Subject: "did:key:z6Mk", ClientID: "did:key:z6Mk",
		Audience: vc.Audience{"https://api.example.com"}, JTI: "j", IssuedAt: 1, Expiry: 2})
	f.Add(tok)
	f.Add("")
	f.Add("e30.e30.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		_, at, err := ParseAccessToken(s)
		if err == nil && (at.Issuer == "" || at.Subject == "" || len(at.Audience) == 0 || at.JTI == "" || at.Expiry == 0) {
			t.Fatalf("accepted a token without a required claim: %+v", at)
		}
	})
}

func FuzzCheckClientAssertion(f *testing.F) {
	k := ed25519.NewKeyFromSeed(make([]byte, 32))
	s, _ := vc.NewKeySigner(k, "")
	now := time.Unix(1_800_000_000, 0)
	id, _ := did.KeyFromPublic(k.Public())
	a, _ := NewClientAssertion(s, id, "https://issuer.example.com/oauth/token", now)
	f.Add(a)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ca, err := CheckClientAssertion(s, AssertionCheck{Audiences: []string{"https://issuer.example.com/oauth/token"}, Now: now})
		if err == nil && (ca.Issuer == "" || ca.Issuer != ca.Subject || ca.JTI == "") {
			t.Fatalf("accepted %+v", ca)
		}
		if err != nil {
			if e, ok := AsError(err); !ok || e.Code != InvalidClient {
				t.Fatalf("refusal %v is not invalid_client", err)
			}
		}
	})
}

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://EXAMPLE.com:443/a/./b/../c?x#y", "http://h/%7e%2f", "https://h", "https://h/a/..", "http://[::1]:80/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeURL(s)
		if err != nil {
			return
		}
		// The normal form is a fixed point.
		n2, err := NormalizeURL(n)
		if err != nil || n2 != n {
			t.Fatalf("NormalizeURL(%q) = %q, then %q (%v)", s, n, n2, err)
		}
	})
}
