// Package verifiertest builds issuers, agents, credentials and
// presentations in memory for tests of code that verifies agentid
// presentations. It is not for production use: keys live in process memory.
//
// A typical test wires the fakes into a verifier:
//
//	keys, status := new(verifiertest.Keys), new(verifiertest.Status)
//	clock := verifiertest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
//	iss := verifiertest.NewIssuer(t, "did:web:issuer.example.com", keys)
//	agent := verifiertest.NewAgent(t, keys)
//	v, err := verifier.New(verifier.WithKeyResolver(keys),
//		verifier.WithTrustedIssuers(iss.DID), verifier.WithStatusChecker(status),
//		verifier.WithClock(clock.Now), verifier.WithAudience(aud))
//	cred := iss.Credential(t, agent.DID, aud, []string{"calendar:read"}, clock.Now(), nil)
//	vp := agent.Present(t, cred, aud, "GET", aud+"/v1/events", clock.Now(), nil)
//	status.Set(verifiertest.StatusIndex(t, cred, "revocation"), reason.Revoked) // revoke it
//
// The package imports neither verifier nor its middlewares, so that the
// verifier's own tests can use it.
package verifiertest

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
)

// TB is the part of testing.TB the builders use. *testing.T, *testing.B and
// *testing.F satisfy it; an Example can pass a value whose Fatal panics.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Keys is an in-memory key resolver: kid → public key.
type Keys struct {
	mu sync.RWMutex
	m  map[string]crypto.PublicKey
}

// ResolveKey implements vc.KeyResolver.
func (k *Keys) ResolveKey(_ context.Context, kid string, _ did.Relationship) (crypto.PublicKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if p, ok := k.m[kid]; ok {
		return p, nil
	}
	return nil, &did.ResolutionError{Code: did.CodeNotFound, DID: kid}
}

// Add registers a key.
func (k *Keys) Add(kid string, pub crypto.PublicKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]crypto.PublicKey{}
	}
	k.m[kid] = pub
}

// Status is a status checker whose answers tests set per status list index.
type Status struct {
	mu    sync.Mutex
	errs  map[string]error
	Calls atomic.Int64
}

// Set makes checks of entries with this index fail with err (nil clears).
func (s *Status) Set(index string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[string]error{}
	}
	s.errs[index] = err
}

// Check implements verifier.StatusChecker.
func (s *Status) Check(_ context.Context, _ string, entries []vc.StatusEntry) error {
	s.Calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if err := s.errs[e.StatusListIndex]; err != nil {
			return err
		}
	}
	return nil
}

// Agent is an agent identity with its private key.
type Agent struct {
	DID    string
	Key    ed25519.PrivateKey
	Signer *vc.KeySigner
}

// NewAgent makes an Ed25519 did:key agent with a random key and registers
// its key.
func NewAgent(t TB, keys *Keys) *Agent {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return NewAgentWithKey(t, keys, k)
}

// NewAgentWithKey makes a did:key agent with key k and registers its key.
// With SeedKey it gives the same DID in every run (examples, fuzzing).
func NewAgentWithKey(t TB, keys *Keys, k ed25519.PrivateKey) *Agent {
	t.Helper()
	d, err := did.KeyFromPublic(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	kid := d + "#" + strings.TrimPrefix(d, "did:key:")
	s, err := vc.NewKeySigner(k, kid)
	if err != nil {
		t.Fatal(err)
	}
	keys.Add(kid, k.Public())
	return &Agent{DID: d, Key: k, Signer: s}
}

// Issuer signs credentials with an in-memory Ed25519 key.
type Issuer struct {
	DID    string
	Signer *vc.KeySigner
	seq    atomic.Int64
}

// NewIssuer makes an issuer with DID issuerDID and a random key, and
// registers its key as issuerDID#k1.
func NewIssuer(t TB, issuerDID string, keys *Keys) *Issuer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return NewIssuerWithKey(t, issuerDID, keys, k)
}

// NewIssuerWithKey is NewIssuer with key k.
func NewIssuerWithKey(t TB, issuerDID string, keys *Keys, k ed25519.PrivateKey) *Issuer {
	t.Helper()
	s, err := vc.NewKeySigner(k, issuerDID+"#k1")
	if err != nil {
		t.Fatal(err)
	}
	keys.Add(issuerDID+"#k1", k.Public())
	return &Issuer{DID: issuerDID, Signer: s}
}

// Credential issues an AgentCredential for subject valid from now-1m to
// now+14m for audience with scopes; mod may change it before signing.
func (is *Issuer) Credential(t TB, subject, audience string, scopes []string, now time.Time, mod func(*vc.Credential)) string {
	t.Helper()
	n := is.seq.Add(1)
	from, until := now.Add(-time.Minute), now.Add(14*time.Minute)
	c := &vc.Credential{
		Context: []string{vc.ContextV2, vc.ContextAgentID},
		ID:      "urn:uuid:00000000-0000-4000-8000-" + pad12(n),
		Type:    []string{vc.TypeVerifiableCredential, vc.TypeAgentCredential},
		Issuer:  vc.Issuer{ID: is.DID}, ValidFrom: &from, ValidUntil: &until,
		CredentialSubject: vc.Subject{ID: subject, Scopes: scopes, Audiences: []string{audience},
			Owner: "team-test", Purpose: "testing"},
		CredentialStatus: []vc.StatusEntry{
			{Type: "BitstringStatusListEntry", StatusPurpose: "revocation", StatusListIndex: strconv.FormatInt(2*n, 10), StatusListCredential: "https://issuer.example.com/status/revocation/0"},
			{Type: "BitstringStatusListEntry", StatusPurpose: "suspension", StatusListIndex: strconv.FormatInt(2*n+1, 10), StatusListCredential: "https://issuer.example.com/status/suspension/0"},
		},
	}
	if mod != nil {
		mod(c)
	}
	tok, err := vc.SignCredential(is.Signer, c, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var jtiSeq atomic.Int64

// Present signs a presentation of cred (none when empty) by a for aud,
// bound to method and url when they are not empty, with a fresh jti.
func (a *Agent) Present(t TB, cred, aud, method, url string, now time.Time, mod func(*vc.Presentation)) string {
	t.Helper()
	p := &vc.Presentation{Holder: a.DID, Aud: vc.Audience{aud},
		Iat: now.Unix(), Exp: now.Add(time.Minute).Unix(),
		Jti: "t" + strconv.FormatInt(jtiSeq.Add(1), 36), Htm: method, Htu: url}
	if cred != "" {
		p.VerifiableCredential = []vc.Enveloped{vc.Envelope(cred)}
	}
	if mod != nil {
		mod(p)
	}
	tok, err := vc.SignPresentation(a.Signer, p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// SeedKey derives an Ed25519 private key from name, so that tests and
// examples can have stable DIDs. Never use it outside tests.
func SeedKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("verifiertest:" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// StatusIndex returns the statusListIndex of cred's credentialStatus entry
// for purpose ("revocation" or "suspension"), for Status.Set. It parses
// cred without verifying it.
func StatusIndex(t TB, cred, purpose string) string {
	t.Helper()
	pc, err := vc.ParseCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pc.Credential.CredentialStatus {
		if e.StatusPurpose == purpose {
			return e.StatusListIndex
		}
	}
	t.Fatal("verifiertest: credential has no " + purpose + " status entry")
	return ""
}

// Clock is a settable clock for verifier.WithClock. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set stops the clock at now.
func (c *Clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func pad12(n int64) string {
	s := strconv.FormatInt(n, 10)
	return strings.Repeat("0", 12-len(s)) + s
}
