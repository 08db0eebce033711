package verifier

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

const (
	issuerDID = "did:web:issuer.example.com"
	audience  = "https://calendar.example.com"
	eventsURL = "https://calendar.example.com/v1/events"
)

type mapKeys map[string]crypto.PublicKey

func (m mapKeys) ResolveKey(_ context.Context, kid string, _ did.Relationship) (crypto.PublicKey, error) {
	if k, ok := m[kid]; ok {
		return k, nil
	}
	return nil, &did.ResolutionError{Code: did.CodeNotFound, DID: kid}
}

// fakeStatus answers status checks from a map of credential status list
// index → error.
type fakeStatus struct {
	mu    sync.Mutex
	codes map[string]error
	calls int
}

func (f *fakeStatus) Check(_ context.Context, issuer string, entries []vc.StatusEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	for _, e := range entries {
		if err := f.codes[e.StatusListIndex]; err != nil {
			return err
		}
	}
	return nil
}

type agent struct {
	did    string
	key    ed25519.PrivateKey
	signer *vc.KeySigner
}

func newAgent(t testing.TB, keys mapKeys) *agent {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	d, err := did.KeyFromPublic(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	kid := d + "#" + strings.TrimPrefix(d, "did:key:")
	s, _ := vc.NewKeySigner(k, kid)
	keys[kid] = k.Public()
	return &agent{did: d, key: k, signer: s}
}

type env struct {
	t      testing.TB
	now    time.Time
	keys   mapKeys
	issuer *vc.KeySigner
	agent  *agent
	status *fakeStatus
	nonces *MemoryNonces
	v      *Verifier
	seq    int
}

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), keys: mapKeys{}, status: &fakeStatus{codes: map[string]error{}}}
	_, ik, _ := ed25519.GenerateKey(rand.Reader)
	e.issuer, _ = vc.NewKeySigner(ik, issuerDID+"#k1")
	e.keys[issuerDID+"#k1"] = ik.Public()
	e.agent = newAgent(t, e.keys)
	base := []Option{WithKeyResolver(e.keys), WithTrustedIssuers(issuerDID), WithStatusChecker(e.status),
		WithClock(func() time.Time { return e.now }), WithAudience(audience)}
	v, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	return e
}

func (e *env) credential(subject string, mod func(c *vc.Credential)) string {
	e.t.Helper()
	from, until := e.now.Add(-time.Minute), e.now.Add(14*time.Minute)
	c := &vc.Credential{
		Context: []string{vc.ContextV2, vc.ContextAgentID},
		ID:      "urn:uuid:00000000-0000-4000-8000-000000000001",
		Type:    []string{vc.TypeVerifiableCredential, vc.TypeAgentCredential},
		Issuer:  vc.Issuer{ID: issuerDID}, ValidFrom: &from, ValidUntil: &until,
		CredentialSubject: vc.Subject{ID: subject, Scopes: []string{"calendar:read", "calendar:write"},
			Audiences: []string{audience}, Owner: "team-payments", Purpose: "notes"},
		CredentialStatus: []vc.StatusEntry{
			{Type: "BitstringStatusListEntry", StatusPurpose: "revocation", StatusListIndex: "7", StatusListCredential: "https://issuer.example.com/status/revocation/0"},
			{Type: "BitstringStatusListEntry", StatusPurpose: "suspension", StatusListIndex: "9", StatusListCredential: "https://issuer.example.com/status/suspension/0"},
		},
	}
	signer := e.issuer
	if mod != nil {
		mod(c)
	}
	tok, err := vc.SignCredential(signer, c, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) present(a *agent, cred string, mod func(p *vc.Presentation)) string {
	e.t.Helper()
	e.seq++
	p := &vc.Presentation{Holder: a.did, Aud: vc.Audience{audience},
		Iat: e.now.Unix(), Exp: e.now.Add(time.Minute).Unix(), Jti: "jti-" + strings.Repeat("x", e.seq),
		Htm: "GET", Htu: eventsURL}
	if cred != "" {
		p.VerifiableCredential = []vc.Enveloped{vc.Envelope(cred)}
	}
	if mod != nil {
		mod(p)
	}
	tok, err := vc.SignPresentation(a.signer, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func req(scopes ...string) Request {
	return Request{Method: "GET", URL: eventsURL, Scopes: scopes, SourceIP: "10.1.2.3"}
}

func TestVerifyValid(t *testing.T) {
	e := newEnv(t)
	cred := e.credential(e.agent.did, nil)
	r, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req("calendar:read"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Agent != e.agent.did || r.Issuer != issuerDID || r.Owner != "team-payments" || r.CredentialID == "" || !r.ExpiresAt.Equal(e.now.Add(14*time.Minute)) {
		t.Fatalf("result: %+v", r)
	}
	// A second presentation of the same credential uses the signature cache
	// but still reads status.
	before := e.status.calls
	if _, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req()); err != nil {
		t.Fatal(err)
	}
	if e.status.calls != before+1 {
		t.Fatal("status not read on a cached credential")
	}
}

// resign signs an arbitrary header and payload with key.
func resign(t testing.TB, sign func([]byte) []byte, header, payload any) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

func TestVerifyRejects(t *testing.T) {
	ctx := context.Background()
	type tc struct {
		name string
		opts []Option
		// build returns the presentation and the request.
		build func(e *env) (string, Request)
		want  reason.Code
	}
	payloadOf := func(tok string) map[string]any {
		parts := strings.Split(tok, ".")
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	cases := []tc{
		{name: "alg none", build: func(e *env) (string, Request) {
			p := payloadOf(e.present(e.agent, e.credential(e.agent.did, nil), nil))
			h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "vp+jwt", "kid": e.agent.signer.KeyID()})
			b, _ := json.Marshal(p)
			return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + ".AAAA", req()
		}, want: reason.UnsupportedAlg},
		{name: "HMAC with the public key as secret", build: func(e *env) (string, Request) {
			p := payloadOf(e.present(e.agent, e.credential(e.agent.did, nil), nil))
			mac := func(in []byte) []byte {
				m := hmac.New(sha256.New, e.agent.key.Public().(ed25519.PublicKey))
				m.Write(in)
				return m.Sum(nil)
			}
			return resign(t, mac, map[string]any{"alg": "HS256", "typ": "vp+jwt", "kid": e.agent.signer.KeyID()}, p), req()
		}, want: reason.UnsupportedAlg},
		{name: "unknown kid", build: func(e *env) (string, Request) {
			p := payloadOf(e.present(e.agent, e.credential(e.agent.did, nil), nil))
			return resign(t, func(in []byte) []byte { return ed25519.Sign(e.agent.key, in) },
				map[string]any{"alg": "EdDSA", "typ": "vp+jwt", "kid": e.agent.did + "#other"}, p), req()
		}, want: reason.UnknownKey},
		{name: "kid of another DID", build: func(e *env) (string, Request) {
			other := newAgent(t, e.keys)
			p := payloadOf(e.present(e.agent, e.credential(e.agent.did, nil), nil))
			return resign(t, func(in []byte) []byte { return ed25519.Sign(other.key, in) },
				map[string]any{"alg": "EdDSA", "typ": "vp+jwt", "kid": other.signer.KeyID()}, p), req()
		}, want: reason.UnknownKey},
		{name: "tampered presentation payload", build: func(e *env) (string, Request) {
			tok := e.present(e.agent, e.credential(e.agent.did, nil), nil)
			parts := strings.Split(tok, ".")
			p := payloadOf(tok)
			p["aud"] = "https://evil.example.com"
			b, _ := json.Marshal(p)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2], req()
		}, want: reason.BadSignature},
		{name: "tampered signature", build: func(e *env) (string, Request) {
			tok := e.present(e.agent, e.credential(e.agent.did, nil), nil)
			b := []byte(tok)
			b[len(b)-5] ^= 1
			if b[len(b)-5] == tok[len(tok)-5] {
				b[len(b)-5] = 'A'
			}
			return string(b), req()
		}, want: reason.BadSignature},
		{name: "tampered credential", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.did, nil)
			parts := strings.Split(cred, ".")
			p := payloadOf(cred)
			p["credentialSubject"].(map[string]any)["scopes"] = []string{"calendar:admin"}
			b, _ := json.Marshal(p)
			return e.present(e.agent, parts[0]+"."+base64.RawURLEncoding.EncodeToString(b)+"."+parts[2], nil), req("calendar:admin")
		}, want: reason.BadSignature},
		{name: "untrusted issuer", build: func(e *env) (string, Request) {
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			s, _ := vc.NewKeySigner(k, "did:web:evil.example.com#k1")
			e.keys["did:web:evil.example.com#k1"] = k.Public()
			old := e.issuer
			e.issuer = s
			cred := e.credential(e.agent.did, func(c *vc.Credential) { c.Issuer.ID = "did:web:evil.example.com" })
			e.issuer = old
			return e.present(e.agent, cred, nil), req()
		}, want: reason.UntrustedIssuer},
		{name: "expired credential", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.did, func(c *vc.Credential) {
				from, until := e.now.Add(-20*time.Minute), e.now.Add(-5*time.Minute)
				c.ValidFrom, c.ValidUntil = &from, &until
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.Expired},
		{name: "credential not yet valid", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.did, func(c *vc.Credential) {
				from, until := e.now.Add(5*time.Minute), e.now.Add(20*time.Minute)
				c.ValidFrom, c.ValidUntil = &from, &until
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.NotYetValid},
		{name: "expired presentation", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) {
				p.Iat, p.Exp = e.now.Add(-4*time.Minute).Unix(), e.now.Add(-2*time.Minute).Unix()
			}), req()
		}, want: reason.Expired},
		{name: "presentation from the future", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) {
				p.Iat, p.Exp = e.now.Add(3*time.Minute).Unix(), e.now.Add(4*time.Minute).Unix()
			}), req()
		}, want: reason.NotYetValid},
		{name: "presentation lifetime too long", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) {
				p.Exp = e.now.Add(10 * time.Minute).Unix()
			}), req()
		}, want: reason.Malformed},
		{name: "wrong presentation audience", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) {
				p.Aud = vc.Audience{"https://other.example.com"}
			}), req()
		}, want: reason.WrongAudience},
		{name: "audience not in credential", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.did, func(c *vc.Credential) { c.CredentialSubject.Audiences = []string{"https://other.example.com"} })
			return e.present(e.agent, cred, nil), req()
		}, want: reason.WrongAudience},
		{name: "missing nonce", opts: []Option{WithRequiredNonce(NewMemoryNonces(0, 0))}, build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), nil), req()
		}, want: reason.BadNonce},
		{name: "unknown nonce", opts: []Option{WithRequiredNonce(NewMemoryNonces(0, 0))}, build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Nonce = "made-up" }), req()
		}, want: reason.BadNonce},
		{name: "nonce differs from the request's challenge", build: func(e *env) (string, Request) {
			r := req()
			r.Nonce = "expected"
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Nonce = "other" }), r
		}, want: reason.BadNonce},
		{name: "wrong htm", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Htm = "DELETE" }), req()
		}, want: reason.RequestMismatch},
		{name: "wrong htu", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Htu = audience + "/v1/admin" }), req()
		}, want: reason.RequestMismatch},
		{name: "htm/htu required but absent", opts: []Option{WithRequiredRequestBinding()}, build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Htm, p.Htu = "", "" }), req()
		}, want: reason.RequestMismatch},
		{name: "holder is not the subject", build: func(e *env) (string, Request) {
			other := newAgent(t, e.keys)
			return e.present(other, e.credential(e.agent.did, nil), nil), req()
		}, want: reason.HolderMismatch},
		{name: "revoked", build: func(e *env) (string, Request) {
			e.status.codes["7"] = reason.New(reason.Revoked, "bit set")
			return e.present(e.agent, e.credential(e.agent.did, nil), nil), req()
		}, want: reason.Revoked},
		{name: "suspended", build: func(e *env) (string, Request) {
			e.status.codes["9"] = reason.New(reason.Suspended, "bit set")
			return e.present(e.agent, e.credential(e.agent.did, nil), nil), req()
		}, want: reason.Suspended},
		{name: "status unavailable", build: func(e *env) (string, Request) {
			e.status.codes["7"] = errors.New("connection refused")
			return e.present(e.agent, e.credential(e.agent.did, nil), nil), req()
		}, want: reason.StatusUnavailable},
		{name: "missing scope", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.did, nil), nil), req("calendar:delete")
		}, want: reason.InsufficientScope},
		{name: "source network", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.did, func(c *vc.Credential) {
				c.CredentialSubject.Constraints = &vc.Constraints{SourceNetworks: []string{"192.168.0.0/16"}}
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.ConstraintViolated},
		{name: "time window", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.did, func(c *vc.Credential) {
				c.CredentialSubject.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "13:00", End: "18:00", TZ: "UTC"}}
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.ConstraintViolated},
		{name: "time window in another zone", build: func(e *env) (string, Request) {
			// 12:00 UTC is 21:00 in Tokyo.
			cred := e.credential(e.agent.did, func(c *vc.Credential) {
				c.CredentialSubject.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "08:00", End: "18:00", TZ: "Asia/Tokyo"}}
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.ConstraintViolated},
		{name: "oversized token", build: func(e *env) (string, Request) {
			return strings.Repeat("a", 70_000), req()
		}, want: reason.Malformed},
		{name: "malformed JSON", build: func(e *env) (string, Request) {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"vp+jwt","kid":"` + e.agent.signer.KeyID() + `"}`))
			in := h + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"holder":`))
			return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(e.agent.key, []byte(in))), req()
		}, want: reason.Malformed},
		{name: "no credential", build: func(e *env) (string, Request) {
			return e.present(e.agent, "", nil), req()
		}, want: reason.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts...)
			tok, r := c.build(e)
			_, err := e.v.Verify(ctx, tok, r)
			got, _ := reason.CodeOf(err)
			if got != c.want {
				t.Fatalf("got %v (code %q), want %q", err, got, c.want)
			}
		})
	}
}

func TestReplay(t *testing.T) {
	e := newEnv(t)
	tok := e.present(e.agent, e.credential(e.agent.did, nil), nil)
	if _, err := e.v.Verify(context.Background(), tok, req()); err != nil {
		t.Fatal(err)
	}
	_, err := e.v.Verify(context.Background(), tok, req())
	if !errors.Is(err, reason.Replayed) {
		t.Fatalf("second use: %v", err)
	}
}

func TestNonceChallenge(t *testing.T) {
	nonces := NewMemoryNonces(time.Minute, 10)
	e := newEnv(t, WithRequiredNonce(nonces))
	n := nonces.Issue(e.now)
	tok := e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Nonce = n })
	if _, err := e.v.Verify(context.Background(), tok, req()); err != nil {
		t.Fatal(err)
	}
	// The nonce is single-use even with a fresh jti.
	tok = e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Nonce = n })
	if _, err := e.v.Verify(context.Background(), tok, req()); !errors.Is(err, reason.BadNonce) {
		t.Fatalf("reused nonce: %v", err)
	}
	// Expired nonces are refused.
	n = nonces.Issue(e.now)
	e.now = e.now.Add(2 * time.Minute)
	tok = e.present(e.agent, e.credential(e.agent.did, nil), func(p *vc.Presentation) { p.Nonce = n })
	if _, err := e.v.Verify(context.Background(), tok, req()); !errors.Is(err, reason.BadNonce) {
		t.Fatalf("expired nonce: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	cred := e.credential(e.agent.did, func(c *vc.Credential) {
		c.CredentialSubject.Constraints = &vc.Constraints{RateLimit: "3/m"}
	})
	for i := range 3 {
		if _, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req()); !errors.Is(err, reason.ConstraintViolated) {
		t.Fatalf("4th request: %v", err)
	}
	e.now = e.now.Add(time.Minute)
	if _, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req()); err != nil {
		t.Fatalf("next window: %v", err)
	}
}

func TestMatchRequestNormalisation(t *testing.T) {
	for _, c := range []struct {
		htu, url string
		ok       bool
	}{
		{"https://API.example.com/v1/x", "https://api.example.com/v1/x?q=1", true},
		{"https://api.example.com:443/v1/x", "https://api.example.com/v1/x", true},
		{"http://api.example.com/v1/x", "https://api.example.com/v1/x", false},
		{"https://api.example.com/v1/X", "https://api.example.com/v1/x", false},
		{"https://api.example.com", "https://api.example.com/", true},
		{"/v1/x", "https://api.example.com/v1/x", false},
	} {
		err := matchRequest("GET", c.htu, "GET", c.url)
		if (err == nil) != c.ok {
			t.Errorf("htu %q vs %q: %v", c.htu, c.url, err)
		}
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := NewMemoryReplayCache(640)
	now := time.Unix(1000, 0)
	for i := range 5000 {
		c.Seen(string(rune(i))+"k", now.Add(time.Second), now)
	}
	if c.Len() > 640+64 {
		t.Fatalf("cache holds %d entries", c.Len())
	}
	// After expiry the space is reclaimed.
	later := now.Add(time.Minute)
	if c.Seen("fresh", later.Add(time.Second), later) {
		t.Fatal("fresh key refused after expiry")
	}
}

func TestNewRequires(t *testing.T) {
	if _, err := New(WithTrustedIssuers(issuerDID), WithStatusChecker(&fakeStatus{})); err == nil {
		t.Fatal("no resolver accepted")
	}
	if _, err := New(WithKeyResolver(mapKeys{}), WithStatusChecker(&fakeStatus{})); err == nil {
		t.Fatal("no trusted issuer accepted")
	}
	if _, err := New(WithKeyResolver(mapKeys{}), WithTrustedIssuers(issuerDID)); err == nil {
		t.Fatal("no status checker accepted")
	}
	if _, err := New(WithTrustedIssuers("https://x")); err == nil {
		t.Fatal("non-DID issuer accepted")
	}
}
