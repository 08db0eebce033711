package oauth

import (
	"crypto/ed25519"
	"encoding/json"
	"reflect"
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
	chain := []vc.DelegationLink{{Credential: "urn:uuid:1", Holder: "did:key:r"}, {Credential: "urn:uuid:2", Holder: "did:key:c"}}
	sub, act := Delegated("did:key:z6Mk", chain)
	tok, _ = SignAccessToken(s, &AccessToken{Issuer: "https://issuer.example.com", Subject: sub, ClientID: "did:key:z6Mk",
		Audience: vc.Audience{"https://api.example.com"}, JTI: "j", IssuedAt: 1, Expiry: 2, Act: act, Delegation: chain})
	f.Add(tok)
	f.Add("")
	f.Add("e30.e30.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		_, at, err := ParseAccessToken(s)
		if err == nil && (at.Issuer == "" || at.Subject == "" || len(at.Audience) == 0 || at.JTI == "" || at.Expiry == 0) {
			t.Fatalf("accepted a token without a required claim: %+v", at)
		}
		if err == nil {
			// Whatever is accepted names its actors consistently.
			wantSub, wantAct := Delegated(at.ClientID, at.Delegation)
			if at.Subject != wantSub || !reflect.DeepEqual(at.Act.Actors(), wantAct.Actors()) {
				t.Fatalf("accepted sub %q act %v for chain %v", at.Subject, at.Act.Actors(), at.Delegation)
			}
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

// FuzzFastDecodeDifferential checks the fast decoders' contract: whatever
// they accept, encoding/json decodes to the same value.
func FuzzFastDecodeDifferential(f *testing.F) {
	f.Add([]byte(`{"iss":"https://i.example","sub":"did:key:z","client_id":"did:key:z","aud":["https://a"],"scope":"a:b c:d","jti":"j","iat":1,"exp":2,"cnf":{"jkt":"t"},"credential_id":"urn:uuid:x","credential_status":[{"id":"u#1","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"1","statusListCredential":"u"}]}`))
	f.Add([]byte(`{"iss":"https://i.example","sub":"did:key:r","client_id":"did:key:g","aud":["https://a"],"jti":"j","iat":1,"exp":2,"act":{"sub":"did:key:g","act":{"sub":"did:key:c"}},"delegation":[{"credential":"urn:uuid:1","holder":"did:key:r"},{"credential":"urn:uuid:2","holder":"did:key:c"}]}`))
	f.Add([]byte(`{"act":{},"delegation":[]}`))
	f.Add([]byte(`{"act":{"act":{"act":{}}},"delegation":[{}]}`))
	f.Add([]byte(`{"aud":"https://a","iat":-0}`))
	f.Add([]byte(`{"aud":[],"credential_status":[],"cnf":{}}`))
	f.Add([]byte(`{"credential_status":[{}],"aud":[""]}`))
	f.Add([]byte(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"abc"}}`))
	f.Add([]byte(`{"jti":"j","htm":"GET","htu":"https://a/b","iat":1795370000,"ath":"x","nonce":"n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if at, ok := fastDecodeAccessToken(b); ok {
			var want AccessToken
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("fast accepted what encoding/json refuses (%v): %s", err, b)
			}
			if !reflect.DeepEqual(*at, want) {
				t.Fatalf("fast %+v, encoding/json %+v: %s", *at, want, b)
			}
		}
		var h proofHeader
		if k, ok := fastDecodeProofHeader(string(b), &h); ok {
			var want proofHeader
			var wk did.JWK
			if err := json.Unmarshal(b, &want); err != nil || want.JWK == nil || json.Unmarshal(want.JWK, &wk) != nil ||
				want.Typ != h.Typ || want.Alg != h.Alg || wk != k || want.Kid != nil || want.X5C != nil || want.Crit != nil {
				t.Fatalf("proof header: fast %+v %+v, encoding/json %+v %+v: %s", h, k, want, wk, b)
			}
		}
		var c ProofClaims
		if fastDecodeProofClaims(string(b), &c) {
			var want ProofClaims
			if err := json.Unmarshal(b, &want); err != nil || c != want {
				t.Fatalf("proof claims: fast %+v, encoding/json %+v (%v): %s", c, want, err, b)
			}
		}
	})
}
