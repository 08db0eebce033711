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
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

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

// openDB opens a bbolt database in a temporary directory; fsync is off,
// since tests do not crash the machine.
func openDB(tb testing.TB) (*bbolt.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "agentid.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, path
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

// env is an issuer (store, publisher, feed, served over HTTP) and a
// verifier-side Checker.
type env struct {
	db      *bbolt.DB
	store   *Store
	pub     *Publisher
	feed    *Feed
	signer  *edSigner
	keys    *fakeKeys
	base    string
	mux     *http.ServeMux
	checker *Checker
	hits    atomic.Int64 // requests for lists
	feedMu  sync.Mutex   // guards feed as served (tests swap it)
}

type envOptions struct {
	store   Options
	pub     PublisherOptions
	feed    FeedOptions
	checker CheckerOptions
	noFeed  bool
}

func newEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	e := &env{mux: http.NewServeMux()}
	_, e.base = localServer(tb, e.mux)
	e.db, _ = openDB(tb)
	o.store.BaseURL = e.base
	var err error
	if e.store, err = Open(e.db, o.store); err != nil {
		tb.Fatal(err)
	}
	e.signer = newEdSigner(tb, testKid)
	e.keys = newFakeKeys(e.signer)
	if !o.noFeed {
		e.feed = NewFeed(o.feed)
		tb.Cleanup(e.feed.Close)
		o.pub.Feed = e.feed
		e.mux.HandleFunc("/v1/status/events", func(w http.ResponseWriter, r *http.Request) {
			e.feedMu.Lock()
			f := e.feed
			e.feedMu.Unlock()
			f.ServeHTTP(w, r)
		})
	}
	if o.pub.Issuer == "" {
		o.pub.Issuer = testIssuer
	}
	if o.pub.Signer == nil {
		o.pub.Signer = func() jws.Signer { return e.signer }
	}
	if e.pub, err = NewPublisher(e.store, o.pub); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.pub.Close)
	e.mux.Handle("/status/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		e.pub.ServeHTTP(w, r)
	}))
	if o.checker.Keys == nil {
		o.checker.Keys = e.keys
	}
	if e.checker, err = NewChecker(o.checker); err != nil {
		tb.Fatal(err)
	}
	return e
}

// allocate allocates one entry of each purpose in one transaction.
func (e *env) allocate(tb testing.TB) (rev, sus vc.StatusEntry) {
	tb.Helper()
	err := e.db.Update(func(tx *bbolt.Tx) error {
		var err error
		if rev, err = e.store.AllocateTx(tx, Revocation); err != nil {
			return err
		}
		sus, err = e.store.AllocateTx(tx, Suspension)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rev, sus
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
