package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

const (
	issuerDID = "did:web:issuer.example.com"
	audience  = "https://calendar.example.com"
	eventsURL = "https://calendar.example.com/v1/events"
)

// env is a verifier wired to verifiertest's in-memory issuer, agent, key
// resolver, status checker and a fixed clock.
type env struct {
	t      testing.TB
	clock  *verifiertest.Clock
	keys   *verifiertest.Keys
	issuer *verifiertest.Issuer
	agent  *verifiertest.Agent
	status *verifiertest.Status
	v      *Verifier
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, clock: verifiertest.NewClock(t0), keys: new(verifiertest.Keys), status: new(verifiertest.Status)}
	e.issuer = verifiertest.NewIssuer(t, issuerDID, e.keys)
	e.agent = verifiertest.NewAgent(t, e.keys)
	return e.build(opts...)
}

// newSeededEnv is newEnv with keys derived from fixed seeds, so that every
// process (fuzzing workers included) has the same issuer and agent.
func newSeededEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, clock: verifiertest.NewClock(t0), keys: new(verifiertest.Keys), status: new(verifiertest.Status)}
	e.issuer = verifiertest.NewIssuerWithKey(t, issuerDID, e.keys, verifiertest.SeedKey("issuer"))
	e.agent = verifiertest.NewAgentWithKey(t, e.keys, verifiertest.SeedKey("agent"))
	return e.build(opts...)
}

func (e *env) build(opts ...Option) *env {
	t := e.t
	t.Helper()
	base := []Option{WithKeyResolver(e.keys), WithTrustedIssuers(issuerDID), WithStatusChecker(e.status),
		WithClock(e.clock.Now), WithAudience(audience)}
	v, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	return e
}

func (e *env) now() time.Time { return e.clock.Now() }

// credential issues a credential for subject granting calendar:read and
// calendar:write for audience; mod may change it before signing.
func (e *env) credential(subject string, mod func(c *vc.Credential)) string {
	e.t.Helper()
	return e.issuer.Credential(e.t, subject, audience, []string{"calendar:read", "calendar:write"}, e.now(), mod)
}

// present signs a presentation of cred by a, bound to GET eventsURL.
func (e *env) present(a *verifiertest.Agent, cred string, mod func(p *vc.Presentation)) string {
	e.t.Helper()
	return a.Present(e.t, cred, audience, "GET", eventsURL, e.now(), mod)
}

func req(scopes ...string) Request {
	return Request{Method: "GET", URL: eventsURL, Scopes: scopes, SourceIP: "10.1.2.3"}
}

func TestVerifyValid(t *testing.T) {
	e := newEnv(t)
	cred := e.credential(e.agent.DID, nil)
	r, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req("calendar:read"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Agent != e.agent.DID || r.Issuer != issuerDID || r.Owner != "team-test" || r.CredentialID == "" || !r.ExpiresAt.Equal(e.now().Add(14*time.Minute)) {
		t.Fatalf("result: %+v", r)
	}
	// A second presentation of the same credential uses the signature cache
	// but still reads status.
	before := e.status.Calls.Load()
	if _, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req()); err != nil {
		t.Fatal(err)
	}
	if e.status.Calls.Load() != before+1 {
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
			p := payloadOf(e.present(e.agent, e.credential(e.agent.DID, nil), nil))
			h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "vp+jwt", "kid": e.agent.Signer.KeyID()})
			b, _ := json.Marshal(p)
			return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + ".AAAA", req()
		}, want: reason.UnsupportedAlg},
		{name: "HMAC with the public key as secret", build: func(e *env) (string, Request) {
			p := payloadOf(e.present(e.agent, e.credential(e.agent.DID, nil), nil))
			mac := func(in []byte) []byte {
				m := hmac.New(sha256.New, e.agent.Key.Public().(ed25519.PublicKey))
				m.Write(in)
				return m.Sum(nil)
			}
			return resign(e.t, mac, map[string]any{"alg": "HS256", "typ": "vp+jwt", "kid": e.agent.Signer.KeyID()}, p), req()
		}, want: reason.UnsupportedAlg},
		{name: "unknown kid", build: func(e *env) (string, Request) {
			p := payloadOf(e.present(e.agent, e.credential(e.agent.DID, nil), nil))
			return resign(e.t, func(in []byte) []byte { return ed25519.Sign(e.agent.Key, in) },
				map[string]any{"alg": "EdDSA", "typ": "vp+jwt", "kid": e.agent.DID + "#other"}, p), req()
		}, want: reason.UnknownKey},
		{name: "kid of another DID", build: func(e *env) (string, Request) {
			other := verifiertest.NewAgent(e.t, e.keys)
			p := payloadOf(e.present(e.agent, e.credential(e.agent.DID, nil), nil))
			return resign(e.t, func(in []byte) []byte { return ed25519.Sign(other.Key, in) },
				map[string]any{"alg": "EdDSA", "typ": "vp+jwt", "kid": other.Signer.KeyID()}, p), req()
		}, want: reason.UnknownKey},
		{name: "tampered presentation payload", build: func(e *env) (string, Request) {
			tok := e.present(e.agent, e.credential(e.agent.DID, nil), nil)
			parts := strings.Split(tok, ".")
			p := payloadOf(tok)
			p["aud"] = "https://evil.example.com"
			b, _ := json.Marshal(p)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2], req()
		}, want: reason.BadSignature},
		{name: "tampered signature", build: func(e *env) (string, Request) {
			tok := e.present(e.agent, e.credential(e.agent.DID, nil), nil)
			// Replace one full base64url character of the signature with
			// another valid one, so that the token still parses.
			b := []byte(tok)
			if b[len(b)-5] == 'A' {
				b[len(b)-5] = 'B'
			} else {
				b[len(b)-5] = 'A'
			}
			return string(b), req()
		}, want: reason.BadSignature},
		{name: "tampered credential", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, nil)
			parts := strings.Split(cred, ".")
			p := payloadOf(cred)
			p["credentialSubject"].(map[string]any)["scopes"] = []string{"calendar:admin"}
			b, _ := json.Marshal(p)
			return e.present(e.agent, parts[0]+"."+base64.RawURLEncoding.EncodeToString(b)+"."+parts[2], nil), req("calendar:admin")
		}, want: reason.BadSignature},
		{name: "untrusted issuer", build: func(e *env) (string, Request) {
			evil := verifiertest.NewIssuer(e.t, "did:web:evil.example.com", e.keys)
			cred := evil.Credential(e.t, e.agent.DID, audience, []string{"calendar:read"}, e.now(), nil)
			return e.present(e.agent, cred, nil), req()
		}, want: reason.UntrustedIssuer},
		{name: "expired credential", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, func(c *vc.Credential) {
				from, until := e.now().Add(-20*time.Minute), e.now().Add(-5*time.Minute)
				c.ValidFrom, c.ValidUntil = &from, &until
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.Expired},
		{name: "credential not yet valid", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, func(c *vc.Credential) {
				from, until := e.now().Add(5*time.Minute), e.now().Add(20*time.Minute)
				c.ValidFrom, c.ValidUntil = &from, &until
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.NotYetValid},
		{name: "expired presentation", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) {
				p.Iat, p.Exp = e.now().Add(-4*time.Minute).Unix(), e.now().Add(-2*time.Minute).Unix()
			}), req()
		}, want: reason.Expired},
		{name: "presentation from the future", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) {
				p.Iat, p.Exp = e.now().Add(3*time.Minute).Unix(), e.now().Add(4*time.Minute).Unix()
			}), req()
		}, want: reason.NotYetValid},
		{name: "presentation lifetime too long", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) {
				p.Exp = e.now().Add(10 * time.Minute).Unix()
			}), req()
		}, want: reason.Malformed},
		{name: "wrong presentation audience", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) {
				p.Aud = vc.Audience{"https://other.example.com"}
			}), req()
		}, want: reason.WrongAudience},
		{name: "audience not in credential", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, func(c *vc.Credential) { c.CredentialSubject.Audiences = []string{"https://other.example.com"} })
			return e.present(e.agent, cred, nil), req()
		}, want: reason.WrongAudience},
		{name: "missing nonce", opts: []Option{WithRequiredNonce(NewMemoryNonces(0, 0))}, build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), nil), req()
		}, want: reason.BadNonce},
		{name: "unknown nonce", opts: []Option{WithRequiredNonce(NewMemoryNonces(0, 0))}, build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Nonce = "made-up" }), req()
		}, want: reason.BadNonce},
		{name: "nonce differs from the request's challenge", build: func(e *env) (string, Request) {
			r := req()
			r.Nonce = "expected"
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Nonce = "other" }), r
		}, want: reason.BadNonce},
		{name: "wrong htm", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Htm = "DELETE" }), req()
		}, want: reason.RequestMismatch},
		{name: "wrong htu", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Htu = audience + "/v1/admin" }), req()
		}, want: reason.RequestMismatch},
		{name: "htm/htu required but absent", opts: []Option{WithRequiredRequestBinding()}, build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Htm, p.Htu = "", "" }), req()
		}, want: reason.RequestMismatch},
		{name: "holder is not the subject", build: func(e *env) (string, Request) {
			other := verifiertest.NewAgent(e.t, e.keys)
			return e.present(other, e.credential(e.agent.DID, nil), nil), req()
		}, want: reason.HolderMismatch},
		{name: "revoked", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, nil)
			e.status.Set(verifiertest.StatusIndex(e.t, cred, "revocation"), reason.New(reason.Revoked, "bit set"))
			return e.present(e.agent, cred, nil), req()
		}, want: reason.Revoked},
		{name: "suspended", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, nil)
			e.status.Set(verifiertest.StatusIndex(e.t, cred, "suspension"), reason.New(reason.Suspended, "bit set"))
			return e.present(e.agent, cred, nil), req()
		}, want: reason.Suspended},
		{name: "status unavailable", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, nil)
			e.status.Set(verifiertest.StatusIndex(e.t, cred, "revocation"), errors.New("connection refused"))
			return e.present(e.agent, cred, nil), req()
		}, want: reason.StatusUnavailable},
		{name: "missing scope", build: func(e *env) (string, Request) {
			return e.present(e.agent, e.credential(e.agent.DID, nil), nil), req("calendar:delete")
		}, want: reason.InsufficientScope},
		{name: "source network", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, func(c *vc.Credential) {
				c.CredentialSubject.Constraints = &vc.Constraints{SourceNetworks: []string{"192.168.0.0/16"}}
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.ConstraintViolated},
		{name: "time window", build: func(e *env) (string, Request) {
			cred := e.credential(e.agent.DID, func(c *vc.Credential) {
				c.CredentialSubject.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "13:00", End: "18:00", TZ: "UTC"}}
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.ConstraintViolated},
		{name: "time window in another zone", build: func(e *env) (string, Request) {
			// 12:00 UTC is 21:00 in Tokyo.
			cred := e.credential(e.agent.DID, func(c *vc.Credential) {
				c.CredentialSubject.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "08:00", End: "18:00", TZ: "Asia/Tokyo"}}
			})
			return e.present(e.agent, cred, nil), req()
		}, want: reason.ConstraintViolated},
		{name: "oversized token", build: func(e *env) (string, Request) {
			return strings.Repeat("a", 70_000), req()
		}, want: reason.Malformed},
		{name: "malformed JSON", build: func(e *env) (string, Request) {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"vp+jwt","kid":"` + e.agent.Signer.KeyID() + `"}`))
			in := h + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"holder":`))
			return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(e.agent.Key, []byte(in))), req()
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
	tok := e.present(e.agent, e.credential(e.agent.DID, nil), nil)
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
	n := nonces.Issue(e.now())
	tok := e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Nonce = n })
	if _, err := e.v.Verify(context.Background(), tok, req()); err != nil {
		t.Fatal(err)
	}
	// The nonce is single-use even with a fresh jti.
	tok = e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Nonce = n })
	if _, err := e.v.Verify(context.Background(), tok, req()); !errors.Is(err, reason.BadNonce) {
		t.Fatalf("reused nonce: %v", err)
	}
	// Expired nonces are refused.
	n = nonces.Issue(e.now())
	e.clock.Advance(2 * time.Minute)
	tok = e.present(e.agent, e.credential(e.agent.DID, nil), func(p *vc.Presentation) { p.Nonce = n })
	if _, err := e.v.Verify(context.Background(), tok, req()); !errors.Is(err, reason.BadNonce) {
		t.Fatalf("expired nonce: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	cred := e.credential(e.agent.DID, func(c *vc.Credential) {
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
	e.clock.Advance(time.Minute)
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
		_ = c.Record(string(rune(i))+"h", "k", now.Add(time.Second), now)
	}
	if c.Len() > 640+64 {
		t.Fatalf("cache holds %d entries", c.Len())
	}
	// After expiry the space is reclaimed.
	later := now.Add(time.Minute)
	if err := c.Record("fresh", "k", later.Add(time.Second), later); err != nil {
		t.Fatalf("fresh key refused after expiry: %v", err)
	}
}

func TestNewRequires(t *testing.T) {
	if _, err := New(WithTrustedIssuers(issuerDID), WithStatusChecker(new(verifiertest.Status))); err == nil {
		t.Fatal("no resolver accepted")
	}
	if _, err := New(WithKeyResolver(new(verifiertest.Keys)), WithStatusChecker(new(verifiertest.Status))); err == nil {
		t.Fatal("no trusted issuer accepted")
	}
	if _, err := New(WithKeyResolver(new(verifiertest.Keys)), WithTrustedIssuers(issuerDID)); err == nil {
		t.Fatal("no status checker accepted")
	}
	if _, err := New(WithTrustedIssuers("https://x")); err == nil {
		t.Fatal("non-DID issuer accepted")
	}
}

// A caller that edits the returned scopes must not change what later
// presentations of the same (cached) credential are granted.
func TestResultDoesNotAliasCache(t *testing.T) {
	e := newEnv(t)
	cred := e.credential(e.agent.DID, nil)
	r, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req())
	if err != nil {
		t.Fatal(err)
	}
	r.Scopes[1] = "calendar:admin"
	if _, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req("calendar:admin")); !errors.Is(err, reason.InsufficientScope) {
		t.Fatalf("edited result widened the cached grant: %v", err)
	}
}

// Two credentials of one agent with different rate units must not reset
// each other's counters.
func TestRateLimitPerRate(t *testing.T) {
	e := newEnv(t)
	perMin := e.credential(e.agent.DID, func(c *vc.Credential) { c.CredentialSubject.Constraints = &vc.Constraints{RateLimit: "2/m"} })
	perSec := e.credential(e.agent.DID, func(c *vc.Credential) { c.CredentialSubject.Constraints = &vc.Constraints{RateLimit: "100/s"} })
	var err error
	for i := 0; i < 3; i++ {
		_, _ = e.v.Verify(context.Background(), e.present(e.agent, perSec, nil), req())
		_, err = e.v.Verify(context.Background(), e.present(e.agent, perMin, nil), req())
	}
	if !errors.Is(err, reason.ConstraintViolated) {
		t.Fatalf("third use of a 2/m credential: %v", err)
	}
}

func TestCredentialWithoutRevocationEntry(t *testing.T) {
	e := newEnv(t)
	cred := e.credential(e.agent.DID, func(c *vc.Credential) { c.CredentialStatus = nil })
	if _, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req()); !errors.Is(err, reason.StatusUnavailable) {
		t.Fatalf("credential that cannot be revoked: %v", err)
	}
}

// The signature cache stays bounded and evicts in bulk, so that a full
// cache does not make every insert scan it.
func TestSigCacheEviction(t *testing.T) {
	c := newSigCache(100)
	now := time.Unix(1000, 0)
	cred := &vc.Credential{}
	for i := range 1000 {
		c.put(fmt.Sprint("tok", i), cred, now.Add(time.Hour), now)
		if len(c.m) > 100 {
			t.Fatalf("cache holds %d entries after %d inserts", len(c.m), i+1)
		}
	}
	// After an eviction a quarter of the room is free again.
	c = newSigCache(100)
	for i := range 100 {
		c.put(fmt.Sprint("a", i), cred, now.Add(time.Hour), now)
	}
	c.put("trigger", cred, now.Add(time.Hour), now)
	if len(c.m) != 76 {
		t.Fatalf("after eviction: %d entries, want 76", len(c.m))
	}
	if c.get("trigger", now) == nil {
		t.Fatal("the inserted entry is missing")
	}
}
