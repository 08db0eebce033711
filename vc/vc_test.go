package vc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc/jws"
)

const issuerDID = "did:web:issuer.example.com"

// mapKeys resolves kids from a fixed map and records the relationship asked.
type mapKeys map[string]crypto.PublicKey

func (m mapKeys) ResolveKey(_ context.Context, kid string, _ did.Relationship) (crypto.PublicKey, error) {
	if k, ok := m[kid]; ok {
		return k, nil
	}
	return nil, errors.New("no such key")
}

type fixture struct {
	issuer      *KeySigner
	issuerKey   crypto.Signer
	agent       *KeySigner
	agentDID    string
	keys        mapKeys
	now         time.Time
	credential  *Credential
	credToken   string
	presToken   string
	presPayload *Presentation
}

func newEd25519(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newFixture(t testing.TB, issuerKey crypto.Signer) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC), keys: mapKeys{}, issuerKey: issuerKey}
	var err error
	f.issuer, err = NewKeySigner(issuerKey, issuerDID+"#k1")
	if err != nil {
		t.Fatal(err)
	}
	f.keys[issuerDID+"#k1"] = issuerKey.Public()
	agentKey := newEd25519(t)
	f.agentDID, err = did.KeyFromPublic(agentKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	kid := f.agentDID + "#" + strings.TrimPrefix(f.agentDID, "did:key:")
	f.agent, _ = NewKeySigner(agentKey, kid)
	f.keys[kid] = agentKey.Public()
	f.credential = sampleCredential(f.agentDID, f.now)
	f.credToken, err = SignCredential(f.issuer, f.credential, f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.presPayload = &Presentation{
		Holder:               f.agentDID,
		VerifiableCredential: []Enveloped{Envelope(f.credToken)},
		Aud:                  Audience{"https://calendar.example.com"},
		Iat:                  f.now.Unix(), Exp: f.now.Add(time.Minute).Unix(), Jti: "j1",
		Htm: "GET", Htu: "https://calendar.example.com/v1/events",
	}
	f.presToken, err = SignPresentation(f.agent, f.presPayload)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sampleCredential(subject string, now time.Time) *Credential {
	from, until := now, now.Add(15*time.Minute)
	return &Credential{
		Context:   []string{ContextV2, ContextAgentID},
		ID:        "urn:uuid:0b9c1c9e-7a6e-4c1c-9d51-2b1f0f3c9a10",
		Type:      []string{TypeVerifiableCredential, TypeAgentCredential},
		Issuer:    Issuer{ID: issuerDID},
		ValidFrom: &from, ValidUntil: &until,
		CredentialSubject: Subject{
			ID:          subject,
			Scopes:      []string{"calendar:read", "calendar:write"},
			Audiences:   []string{"https://calendar.example.com"},
			Owner:       "team-payments",
			Purpose:     "summarise meeting notes with a longer purpose string to reach about one kilobyte of payload in total",
			DelegatedBy: "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
			OnBehalfOf:  "user:alice@example.com",
			Constraints: &Constraints{SourceNetworks: []string{"10.0.0.0/8"}, RateLimit: "600/m",
				TimeWindow: &TimeWindow{Start: "08:00", End: "18:00", TZ: "UTC"}},
		},
		CredentialStatus: []StatusEntry{
			{ID: "https://issuer.example.com/status/revocation/0#94567", Type: "BitstringStatusListEntry", StatusPurpose: "revocation", StatusListIndex: "94567", StatusListCredential: "https://issuer.example.com/status/revocation/0"},
			{ID: "https://issuer.example.com/status/suspension/0#23452", Type: "BitstringStatusListEntry", StatusPurpose: "suspension", StatusListIndex: "23452", StatusListCredential: "https://issuer.example.com/status/suspension/0"},
		},
		CredentialSchema: &Schema{ID: "https://issuer.example.com/schemas/agent-credential-v1.json", Type: "JsonSchema"},
	}
}

func TestCredentialRoundTrip(t *testing.T) {
	for name, key := range map[string]crypto.Signer{"EdDSA": newEd25519(t), "ES256": mustP256(t)} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, key)
			c, err := VerifyCredential(context.Background(), f.credToken, f.keys)
			if err != nil {
				t.Fatal(err)
			}
			if c.CredentialSubject.ID != f.agentDID || c.Issuer.ID != issuerDID || c.ID != f.credential.ID {
				t.Fatalf("decoded credential differs: %+v", c)
			}
			if c.Iss != issuerDID || c.Sub != f.agentDID || c.Jti != c.ID || c.Exp != c.ValidUntil.Unix() || c.Iat != f.now.Unix() || c.Nbf != 0 {
				t.Fatalf("registered claims wrong: %+v", c.Claims)
			}
			// go-jose must accept what we sign: an independent implementation.
			sig, err := jose.ParseSigned(f.credToken, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := sig.Verify(key.Public())
			if err != nil {
				t.Fatalf("go-jose rejects our signature: %v", err)
			}
			var m map[string]any
			if err := json.Unmarshal(payload, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["vc"]; ok {
				t.Fatal("payload has a vc claim")
			}
			if m["validFrom"] != "2026-11-22T18:00:00Z" || m["issuer"] != issuerDID {
				t.Fatalf("payload members: %v %v", m["validFrom"], m["issuer"])
			}
			if _, ok := m["nbf"]; ok {
				t.Fatal("payload has nbf")
			}
			h := sig.Signatures[0].Protected
			if h.KeyID != issuerDID+"#k1" || h.ExtraHeaders["typ"] != "vc+jwt" || h.Algorithm != name {
				t.Fatalf("header: %+v", h)
			}
		})
	}
}

func mustP256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPresentationRoundTrip(t *testing.T) {
	f := newFixture(t, newEd25519(t))
	p, err := VerifyPresentation(context.Background(), f.presToken, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if p.Iss != f.agentDID || p.Holder != f.agentDID || !p.Aud.Contains("https://calendar.example.com") {
		t.Fatalf("presentation: %+v", p)
	}
	tok, err := p.VerifiableCredential[0].JWT()
	if err != nil || tok != f.credToken {
		t.Fatalf("envelope: %v", err)
	}
	var raw map[string]any
	t2, _ := jws.Parse(f.presToken)
	_ = json.Unmarshal(t2.Payload, &raw)
	if raw["aud"] != "https://calendar.example.com" {
		t.Fatalf("aud should be a string: %v", raw["aud"])
	}
	vcs := raw["verifiableCredential"].([]any)[0].(map[string]any)
	if vcs["type"] != "EnvelopedVerifiableCredential" || !strings.HasPrefix(vcs["id"].(string), "data:application/vc+jwt,") {
		t.Fatalf("envelope: %v", vcs)
	}
}

// resign re-signs a payload mutated by f with the given header, for
// negative tests.
func resign(t *testing.T, s Signer, header map[string]any, payload map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig, err := s.Sign([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func payloadOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, err := jws.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(p.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCredentialRejects(t *testing.T) {
	f := newFixture(t, newEd25519(t))
	hdr := func() map[string]any {
		return map[string]any{"alg": "EdDSA", "typ": "vc+jwt", "kid": issuerDID + "#k1"}
	}
	mut := func(fn func(h, p map[string]any)) string {
		h, p := hdr(), payloadOf(t, f.credToken)
		fn(h, p)
		return resign(t, f.issuer, h, p)
	}
	parts := strings.Split(f.credToken, ".")
	other := newEd25519(t)
	otherDID, _ := did.KeyFromPublic(other.Public())
	otherSigner, _ := NewKeySigner(other, otherDID+"#x")
	f.keys[otherDID+"#x"] = other.Public()

	cases := []struct {
		name  string
		token string
		want  reason.Code
	}{
		{"empty", "", reason.Malformed},
		{"two segments", parts[0] + "." + parts[1], reason.Malformed},
		{"four segments", f.credToken + ".x", reason.Malformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], reason.Malformed},
		{"oversized", parts[0] + "." + strings.Repeat("A", 70000) + "." + parts[2], reason.Malformed},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"vc+jwt","kid":"`+issuerDID+`#k1"}`)) + "." + parts[1] + ".", reason.Malformed},
		{"alg none with sig", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"vc+jwt","kid":"`+issuerDID+`#k1"}`)) + "." + parts[1] + "." + parts[2], reason.UnsupportedAlg},
		{"alg HS256", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"vc+jwt","kid":"`+issuerDID+`#k1"}`)) + "." + parts[1] + "." + parts[2], reason.UnsupportedAlg},
		{"alg ES256 on Ed25519 key", mut(func(h, p map[string]any) { h["alg"] = "ES256" }), reason.UnknownKey},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"a":1}`)) + "." + parts[2], reason.Malformed},
		{"tampered scope", func() string {
			p := payloadOf(t, f.credToken)
			p["credentialSubject"].(map[string]any)["scopes"] = []string{"calendar:admin"}
			b, _ := json.Marshal(p)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
		}(), reason.BadSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), reason.BadSignature},
		{"wrong typ", mut(func(h, p map[string]any) { h["typ"] = "JWT" }), reason.Malformed},
		{"crit header", mut(func(h, p map[string]any) { h["crit"] = []string{"exp"} }), reason.Malformed},
		{"embedded jwk", mut(func(h, p map[string]any) { h["jwk"] = map[string]any{"kty": "OKP"} }), reason.Malformed},
		{"kid of another DID", func() string {
			h := hdr()
			h["kid"] = otherDID + "#x"
			return resign(t, otherSigner, h, payloadOf(t, f.credToken))
		}(), reason.UnknownKey},
		{"kid without fragment", mut(func(h, p map[string]any) { h["kid"] = issuerDID }), reason.UnknownKey},
		{"unknown kid", mut(func(h, p map[string]any) { h["kid"] = issuerDID + "#nope" }), reason.UnknownKey},
		{"iss disagrees", mut(func(h, p map[string]any) { p["iss"] = "did:web:evil.example" }), reason.Malformed},
		{"sub disagrees", mut(func(h, p map[string]any) { p["sub"] = otherDID }), reason.Malformed},
		{"jti disagrees", mut(func(h, p map[string]any) { p["jti"] = "urn:uuid:other" }), reason.Malformed},
		{"exp disagrees", mut(func(h, p map[string]any) { p["exp"] = p["exp"].(float64) + 3600 }), reason.Malformed},
		{"nbf disagrees", mut(func(h, p map[string]any) { p["nbf"] = 1 }), reason.Malformed},
		{"v1 context", mut(func(h, p map[string]any) { p["@context"] = []string{"https://www.w3.org/2018/credentials/v1"} }), reason.Malformed},
		{"no AgentCredential type", mut(func(h, p map[string]any) { p["type"] = []string{"VerifiableCredential"} }), reason.Malformed},
		{"scopes not array", mut(func(h, p map[string]any) { p["credentialSubject"].(map[string]any)["scopes"] = "calendar:read" }), reason.Malformed},
		{"no subject id", mut(func(h, p map[string]any) { delete(p["credentialSubject"].(map[string]any), "id"); delete(p, "sub") }), reason.Malformed},
		{"validUntil before validFrom", mut(func(h, p map[string]any) {
			p["validUntil"] = "2026-11-22T17:00:00Z"
			delete(p, "exp")
		}), reason.Malformed},
		{"payload array", resign(t, f.issuer, hdr(), nil), reason.Malformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyCredential(context.Background(), tc.token, f.keys)
			if c, _ := reason.CodeOf(err); c != tc.want {
				t.Fatalf("got %v (code %q), want %q", err, c, tc.want)
			}
		})
	}
}

func TestPresentationRejects(t *testing.T) {
	f := newFixture(t, newEd25519(t))
	mut := func(signer Signer, fn func(h, p map[string]any)) string {
		h := map[string]any{"alg": "EdDSA", "typ": "vp+jwt", "kid": f.agent.KeyID()}
		p := payloadOf(t, f.presToken)
		fn(h, p)
		return resign(t, signer, h, p)
	}
	cases := []struct {
		name  string
		token string
		want  reason.Code
	}{
		{"holder differs from iss", mut(f.agent, func(h, p map[string]any) { p["holder"] = issuerDID }), reason.Malformed},
		{"kid of issuer", mut(f.issuer, func(h, p map[string]any) { h["kid"] = issuerDID + "#k1" }), reason.UnknownKey},
		{"typ vc+jwt", mut(f.agent, func(h, p map[string]any) { h["typ"] = "vc+jwt" }), reason.Malformed},
		{"bad envelope", mut(f.agent, func(h, p map[string]any) {
			p["verifiableCredential"] = []any{map[string]any{"type": "EnvelopedVerifiableCredential", "id": "data:text/plain,x"}}
		}), reason.Malformed},
		{"no holder", mut(f.agent, func(h, p map[string]any) { delete(p, "holder"); delete(p, "iss") }), reason.Malformed},
		{"signed by issuer key under agent kid", mut(f.issuer, func(h, p map[string]any) {}), reason.BadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyPresentation(context.Background(), tc.token, f.keys)
			if c, _ := reason.CodeOf(err); c != tc.want {
				t.Fatalf("got %v (code %q), want %q", err, c, tc.want)
			}
		})
	}
}

func TestCheckValidity(t *testing.T) {
	c := sampleCredential("did:key:z6Mk", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	c.Exp = c.ValidUntil.Unix()
	from, until := *c.ValidFrom, *c.ValidUntil
	for _, tc := range []struct {
		name string
		now  time.Time
		want reason.Code
	}{
		{"inside", from.Add(time.Minute), ""},
		{"before, within skew", from.Add(-30 * time.Second), ""},
		{"before", from.Add(-2 * time.Minute), reason.NotYetValid},
		{"after, within skew", until.Add(30 * time.Second), ""},
		{"after", until.Add(2 * time.Minute), reason.Expired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckValidity(tc.now, time.Minute)
			got, _ := reason.CodeOf(err)
			if got != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestIssuerForms(t *testing.T) {
	var i Issuer
	if err := json.Unmarshal([]byte(`{"id":"did:web:a","name":"A"}`), &i); err != nil || i.ID != "did:web:a" || i.Name != "A" {
		t.Fatalf("object form: %+v %v", i, err)
	}
	b, _ := json.Marshal(Issuer{ID: "did:web:a"})
	if string(b) != `"did:web:a"` {
		t.Fatalf("string form: %s", b)
	}
	var a Audience
	if err := json.Unmarshal([]byte(`["x","y"]`), &a); err != nil || !a.Contains("y") {
		t.Fatalf("audience array: %v %v", a, err)
	}
}
