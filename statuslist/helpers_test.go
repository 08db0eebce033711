package statuslist

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// The verifier passes a did.MultiResolver as CheckerOptions.Keys.
var _ vc.KeyResolver = (*did.MultiResolver)(nil)

const (
	testIssuer = "did:web:localhost%3A8080"
	testKid    = testIssuer + "#k1"
)

// edSigner is a jws.Signer over an in-test Ed25519 key that counts its
// signatures.
type edSigner struct {
	kid   string
	key   ed25519.PrivateKey
	calls atomic.Int64
	fail  atomic.Bool
}

func newEdSigner(tb testing.TB, kid string) *edSigner {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &edSigner{kid: kid, key: priv}
}

func (s *edSigner) Alg() string   { return jws.AlgEdDSA }
func (s *edSigner) KeyID() string { return s.kid }
func (s *edSigner) Sign(input []byte) ([]byte, error) {
	if s.fail.Load() {
		return nil, errors.New("signer unavailable")
	}
	s.calls.Add(1)
	return ed25519.Sign(s.key, input), nil
}
func (s *edSigner) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// fakeKeys is a vc.KeyResolver over a fixed set of kids.
type fakeKeys struct {
	mu   sync.Mutex
	keys map[string]crypto.PublicKey
}

func newFakeKeys(signers ...*edSigner) *fakeKeys {
	k := &fakeKeys{keys: map[string]crypto.PublicKey{}}
	for _, s := range signers {
		k.keys[s.kid] = s.Public()
	}
	return k
}

func (k *fakeKeys) set(kid string, pub crypto.PublicKey) {
	k.mu.Lock()
	k.keys[kid] = pub
	k.mu.Unlock()
}

func (k *fakeKeys) ResolveKey(_ context.Context, kid string, rel did.Relationship) (crypto.PublicKey, error) {
	if rel != did.AssertionMethod {
		return nil, reason.New(reason.UnknownKey, "wrong relationship")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	pub, ok := k.keys[kid]
	if !ok {
		return nil, reason.New(reason.UnknownKey, "no such key")
	}
	return pub, nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// localServer starts an httptest server reachable as http://localhost:port
// (the Checker's default allows plain http only to localhost).
func localServer(tb testing.TB, h http.Handler) (*httptest.Server, string) {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	return srv, "http://localhost:" + port
}

// wantCode fails unless err carries code (nil code: err must be nil).
func wantCode(tb testing.TB, err error, code reason.Code) {
	tb.Helper()
	if code == "" {
		if err != nil {
			tb.Fatalf("got error %v, want nil", err)
		}
		return
	}
	var re *reason.Error
	if !errors.As(err, &re) || re.Code != code {
		tb.Fatalf("got %v, want reason %q", err, code)
	}
}
