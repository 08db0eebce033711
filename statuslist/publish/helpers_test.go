package publish

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// The helpers below up to openDB repeat statuslist's test helpers: the two
// packages' tests cannot share code.

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

// openDB opens a bbolt store in a temporary directory; fsync is off,
// since tests do not crash the machine.
func openDB(tb testing.TB) (*boltstore.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "agentid.db")
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, path
}

// listCredential is the payload of a served list, as the tests read it
// (statuslist's own type is unexported).
type listCredential struct {
	Context           []string   `json:"@context"`
	ID                string     `json:"id"`
	Type              []string   `json:"type"`
	Issuer            vc.Issuer  `json:"issuer"`
	ValidFrom         *time.Time `json:"validFrom,omitempty"`
	ValidUntil        *time.Time `json:"validUntil,omitempty"`
	CredentialSubject struct {
		ID            string      `json:"id,omitempty"`
		Type          stringOrSet `json:"type"`
		StatusPurpose stringOrSet `json:"statusPurpose"`
		EncodedList   string      `json:"encodedList"`
		TTL           *int64      `json:"ttl,omitempty"`
	} `json:"credentialSubject"`
	vc.Claims
}

// stringOrSet reads a JSON string or array of strings.
type stringOrSet []string

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		err := json.Unmarshal(b, &v)
		*s = stringOrSet{v}
		return err
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// env is an issuer (store, publisher, feed, served over HTTP) and a
// verifier-side Checker.
type env struct {
	db      *boltstore.Store
	store   *Store
	pub     *Publisher
	feed    *Feed
	signer  *edSigner
	keys    *fakeKeys
	base    string
	mux     *http.ServeMux
	checker *statuslist.Checker
	hits    atomic.Int64 // requests for lists
	feedMu  sync.Mutex   // guards feed as served (tests swap it)

	connMu    sync.Mutex
	onConnect func(eventsURL string) // see setOnConnect
}

type envOptions struct {
	store   Options
	pub     PublisherOptions
	feed    FeedOptions
	checker statuslist.CheckerOptions
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
	if o.checker.Client == nil {
		// The Checker's default client, with a transport that reports
		// when a change feed stream is established.
		o.checker.Client = &http.Client{Timeout: statuslist.DefaultFetchTimeout, Transport: connTransport{e}}
	}
	if e.checker, err = statuslist.NewChecker(o.checker); err != nil {
		tb.Fatal(err)
	}
	return e
}

// setOnConnect registers fn to run each time the Checker's change feed
// stream is established: when the Checker first reads the event stream,
// which it does after it has accepted the response and dropped the lists
// of that origin (the package-internal onConnect hook of statuslist, seen
// from outside through CheckerOptions.Client).
func (e *env) setOnConnect(fn func(eventsURL string)) {
	e.connMu.Lock()
	e.onConnect = fn
	e.connMu.Unlock()
}

// connTransport is http.DefaultTransport, calling env.onConnect on the
// first read of each event stream's body.
type connTransport struct{ e *env }

func (t connTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.URL.Path != "/v1/status/events" {
		return resp, err
	}
	t.e.connMu.Lock()
	fn := t.e.onConnect
	t.e.connMu.Unlock()
	if fn != nil {
		u := r.URL.String()
		resp.Body = &connBody{ReadCloser: resp.Body, fn: func() { fn(u) }}
	}
	return resp, nil
}

type connBody struct {
	io.ReadCloser
	once sync.Once
	fn   func()
}

func (b *connBody) Read(p []byte) (int, error) {
	b.once.Do(b.fn)
	return b.ReadCloser.Read(p)
}

// allocate allocates one entry of each purpose in one transaction.
func (e *env) allocate(tb testing.TB) (rev, sus vc.StatusEntry) {
	tb.Helper()
	err := e.db.Update(context.Background(), func(tx store.Tx) error {
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
