// Package verifiertest builds issuers, agents, credentials and
// presentations in memory for tests of code that verifies agentid
// presentations. It is not for production use: keys live in process memory.
package verifiertest

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
)

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

// NewAgent makes an Ed25519 did:key agent and registers its key.
func NewAgent(t testing.TB, keys *Keys) *Agent {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
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

// NewIssuer makes an issuer with DID issuerDID and registers its key.
func NewIssuer(t testing.TB, issuerDID string, keys *Keys) *Issuer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := vc.NewKeySigner(k, issuerDID+"#k1")
	if err != nil {
		t.Fatal(err)
	}
	keys.Add(issuerDID+"#k1", k.Public())
	return &Issuer{DID: issuerDID, Signer: s}
}

// Credential issues an AgentCredential for subject valid from now-1m to
// now+14m for audience with scopes; mod may change it before signing.
func (is *Issuer) Credential(t testing.TB, subject, audience string, scopes []string, now time.Time, mod func(*vc.Credential)) string {
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
func (a *Agent) Present(t testing.TB, cred, aud, method, url string, now time.Time, mod func(*vc.Presentation)) string {
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

func pad12(n int64) string {
	s := strconv.FormatInt(n, 10)
	return strings.Repeat("0", 12-len(s)) + s
}
