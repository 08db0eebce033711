package did

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
)

// testServer serves one did:web document for did:web:localhost%3A<port>.
type testServer struct {
	*httptest.Server
	did     string
	hits    atomic.Int32
	mu      sync.Mutex
	handler func(w http.ResponseWriter, r *http.Request, did string)
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.hits.Add(1)
		ts.mu.Lock()
		h := ts.handler
		ts.mu.Unlock()
		h(w, r, ts.did)
	}))
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	ts.did = "did:web:localhost%3A" + u.Port()
	ts.setHandler(serveDoc(NewWebDocument(ts.did, []WebKey{{ID: "k1", Public: fixedEd25519()}})))
	return ts
}

func (ts *testServer) setHandler(h func(w http.ResponseWriter, r *http.Request, did string)) {
	ts.mu.Lock()
	ts.handler = h
	ts.mu.Unlock()
}

func serveDoc(doc *Document) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.URL.Path != "/.well-known/did.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/did+json")
		json.NewEncoder(w).Encode(doc)
	}
}

func localResolver(opts WebOptions) *WebResolver {
	opts.AllowHTTPLocalhost = true
	return NewWebResolver(opts)
}

func TestWebResolverSuccessAndCache(t *testing.T) {
	ts := newTestServer(t)
	now := time.Unix(1_700_000_000, 0)
	var clock sync.Mutex
	r := localResolver(WebOptions{CacheTTL: time.Minute, Now: func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return now
	}})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		doc, err := r.Resolve(ctx, ts.did)
		if err != nil {
			t.Fatal(err)
		}
		if doc.ID != ts.did {
			t.Fatalf("id %s", doc.ID)
		}
	}
	pub, err := r.ResolveKey(ctx, ts.did+"#k1", AssertionMethod)
	if err != nil || !equalKeys(pub, fixedEd25519()) {
		t.Fatalf("ResolveKey = %v, %v", pub, err)
	}
	if n := ts.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (cache)", n)
	}
	// Expiry refetches.
	clock.Lock()
	now = now.Add(61 * time.Second)
	clock.Unlock()
	if _, err := r.Resolve(ctx, ts.did); err != nil {
		t.Fatal(err)
	}
	if n := ts.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after expiry, want 2", n)
	}
	// Key rotation: the new key is seen only after Invalidate.
	p := newP256(t)
	ts.setHandler(serveDoc(NewWebDocument(ts.did, []WebKey{{ID: "k2", Public: p}})))
	_, err = r.ResolveKey(ctx, ts.did+"#k2", AssertionMethod)
	wantCode(t, err, CodeNotFound)
	r.Invalidate(ts.did)
	if pub, err := r.ResolveKey(ctx, ts.did+"#k2", AssertionMethod); err != nil || !equalKeys(pub, p) {
		t.Fatalf("after Invalidate: %v, %v", pub, err)
	}
	// Through a MultiResolver too.
	m := NewMultiResolver(r)
	if pub, err := m.ResolveKey(ctx, ts.did+"#k2", AssertionMethod); err != nil || !equalKeys(pub, p) {
		t.Fatalf("MultiResolver: %v, %v", pub, err)
	}
	if doc, err := m.Resolve(ctx, ts.did); err != nil || doc.ID != ts.did {
		t.Fatalf("MultiResolver.Resolve: %v, %v", doc, err)
	}
}

func TestWebResolverNoCache(t *testing.T) {
	ts := newTestServer(t)
	r := localResolver(WebOptions{CacheTTL: -1})
	for i := 0; i < 3; i++ {
		if _, err := r.Resolve(context.Background(), ts.did); err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

func TestWebResolverFailures(t *testing.T) {
	big := strings.Repeat(" ", 2<<10)
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request, did string)
		code    string
		reason  reason.Code
	}{
		{"404", func(w http.ResponseWriter, r *http.Request, _ string) { http.NotFound(w, r) }, CodeNotFound, reason.UnknownKey},
		{"410", func(w http.ResponseWriter, r *http.Request, _ string) { w.WriteHeader(http.StatusGone) }, CodeNotFound, reason.UnknownKey},
		{"500", func(w http.ResponseWriter, r *http.Request, _ string) { w.WriteHeader(500) }, CodeInternalError, reason.UnknownKey},
		{"redirect", func(w http.ResponseWriter, r *http.Request, _ string) {
			http.Redirect(w, r, "http://localhost:1/x", http.StatusFound)
		}, CodeInternalError, reason.UnknownKey},
		{"oversized declared", func(w http.ResponseWriter, r *http.Request, did string) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"` + did + `"` + big + `}`))
		}, CodeInvalidDIDDocument, reason.Malformed},
		{"oversized chunked", func(w http.ResponseWriter, r *http.Request, did string) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"` + did + `"`))
			w.(http.Flusher).Flush()
			w.Write([]byte(big + "}"))
		}, CodeInvalidDIDDocument, reason.Malformed},
		{"wrong id", func(w http.ResponseWriter, r *http.Request, _ string) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"did:web:evil.example"}`))
		}, CodeInvalidDIDDocument, reason.Malformed},
		{"non-JSON content type", func(w http.ResponseWriter, r *http.Request, did string) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`{"id":"` + did + `"}`))
		}, CodeInvalidDIDDocument, reason.Malformed},
		{"no content type", func(w http.ResponseWriter, r *http.Request, did string) {
			w.Header()["Content-Type"] = nil
			w.Write([]byte(`{"id":"` + did + `"}`))
		}, CodeInvalidDIDDocument, reason.Malformed},
		{"non-JSON body", func(w http.ResponseWriter, r *http.Request, _ string) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`<html>`))
		}, CodeInvalidDIDDocument, reason.Malformed},
		{"invalid document", func(w http.ResponseWriter, r *http.Request, did string) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"` + did + `","verificationMethod":[{"id":"did:web:evil.example#k"}]}`))
		}, CodeInvalidDIDDocument, reason.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.setHandler(tt.handler)
			r := localResolver(WebOptions{MaxBytes: 1 << 10})
			doc, err := r.Resolve(context.Background(), ts.did)
			if doc != nil {
				t.Fatalf("got document %+v", doc)
			}
			wantCode(t, err, tt.code)
			if !errors.Is(err, tt.reason) {
				t.Fatalf("errors.Is(%v, %s) = false", err, tt.reason)
			}
			// Failures are remembered briefly: no second fetch.
			if _, err := r.Resolve(context.Background(), ts.did); err == nil {
				t.Fatal("second attempt succeeded")
			}
			if n := ts.hits.Load(); n != 1 {
				t.Fatalf("%d fetches, want 1 (negative cache)", n)
			}
		})
	}
}

func TestWebResolverCoalesces(t *testing.T) {
	ts := newTestServer(t)
	release := make(chan struct{})
	doc := NewWebDocument(ts.did, []WebKey{{ID: "k1", Public: fixedEd25519()}})
	ts.setHandler(func(w http.ResponseWriter, r *http.Request, did string) {
		<-release
		serveDoc(doc)(w, r, did)
	})
	r := localResolver(WebOptions{})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.ResolveKey(context.Background(), ts.did+"#k1", AssertionMethod)
			errs <- err
		}()
	}
	// Let every goroutine join the in-flight fetch before answering it.
	deadline := time.Now().Add(5 * time.Second)
	for ts.hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := ts.hits.Load(); got != 1 {
		t.Fatalf("%d fetches for %d concurrent resolutions, want 1", got, n)
	}
}

func TestWebResolverTimeout(t *testing.T) {
	ts := newTestServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ts.setHandler(func(w http.ResponseWriter, r *http.Request, _ string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := localResolver(WebOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := r.Resolve(context.Background(), ts.did)
	wantCode(t, err, CodeInternalError)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	// A caller's context ends its own wait.
	r = localResolver(WebOptions{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = r.Resolve(ctx, ts.did)
	wantCode(t, err, CodeInternalError)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cause: %v", err)
	}
}

func TestWebResolverHTTPOnlyForAllowedLocalhost(t *testing.T) {
	ts := newTestServer(t)
	// Not allowed: the resolver speaks https to the plain-http server.
	r := NewWebResolver(WebOptions{Timeout: 2 * time.Second})
	_, err := r.Resolve(context.Background(), ts.did)
	wantCode(t, err, CodeInternalError)
	if n := ts.hits.Load(); n != 0 {
		t.Fatalf("%d plain-http requests, want 0", n)
	}
	// Allowed: succeeds.
	if _, err := localResolver(WebOptions{}).Resolve(context.Background(), ts.did); err != nil {
		t.Fatal(err)
	}
	// IP addresses are never fetched, allowed or not.
	u, _ := url.Parse(ts.URL)
	_, err = localResolver(WebOptions{}).Resolve(context.Background(), "did:web:127.0.0.1%3A"+u.Port())
	wantCode(t, err, CodeInvalidDID)
}

func TestWebResolverCacheBound(t *testing.T) {
	r := localResolver(WebOptions{CacheSize: 3})
	for i := 0; i < 10; i++ {
		r.mu.Lock()
		r.store(strings.Repeat("x", i+1), &Document{})
		r.mu.Unlock()
	}
	if len(r.cache) != 3 {
		t.Fatalf("cache holds %d entries, want 3", len(r.cache))
	}
}

func TestMultiResolver(t *testing.T) {
	ctx := context.Background()
	ed := fixedEd25519()
	key, _ := KeyFromPublic(ed)
	frag := strings.TrimPrefix(key, "did:key:")
	jwk, _ := JWKFromPublic(ed)
	var zero MultiResolver // The zero value resolves did:key and did:jwk.
	for _, r := range []*MultiResolver{NewMultiResolver(nil), &zero} {
		for _, kid := range []string{key + "#" + frag, jwk + "#0"} {
			pub, err := r.ResolveKey(ctx, kid, AssertionMethod)
			if err != nil || !equalKeys(pub, ed) {
				t.Fatalf("ResolveKey(%s) = %v, %v", kid, pub, err)
			}
		}
		for _, id := range []string{key, jwk} {
			if doc, err := r.Resolve(ctx, id); err != nil || doc.ID != id {
				t.Fatalf("Resolve(%s) = %v, %v", id, doc, err)
			}
		}
	}
	r := NewMultiResolver(nil)
	tests := []struct {
		name string
		kid  string
		rel  Relationship
		code string
	}{
		{"no fragment", key, AssertionMethod, CodeInvalidDID},
		{"empty fragment", key + "#", AssertionMethod, CodeInvalidDID},
		{"did:key wrong fragment", key + "#key-1", AssertionMethod, CodeNotFound},
		{"did:key other key's fragment", key + "#z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG", AssertionMethod, CodeNotFound},
		{"did:key bad relationship", key + "#" + frag, Relationship("keyAgreement"), CodeNotFound},
		{"did:key malformed", "did:key:z6Mk#z6Mk", AssertionMethod, CodeInvalidDID},
		{"did:key query", key + "?x#" + frag, AssertionMethod, CodeInvalidDID},
		{"did:jwk wrong fragment", jwk + "#1", AssertionMethod, CodeNotFound},
		{"did:jwk malformed", "did:jwk:@#0", AssertionMethod, CodeInvalidDID},
		{"did:web unsupported", "did:web:example.com#k1", AssertionMethod, CodeMethodNotSupported},
		{"other method", "did:example:123#k1", AssertionMethod, CodeMethodNotSupported},
		{"not a DID", "https://example.com#k1", AssertionMethod, CodeInvalidDID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := r.ResolveKey(ctx, tt.kid, tt.rel)
			if pub != nil {
				t.Fatalf("got key %v", pub)
			}
			wantCode(t, err, tt.code)
		})
	}
	for did, code := range map[string]string{
		"did:web:example.com": CodeMethodNotSupported,
		"did:example:123":     CodeMethodNotSupported,
		"not-a-did":           CodeInvalidDID,
		"did:key:z6Mk":        CodeInvalidDID,
	} {
		_, err := r.Resolve(ctx, did)
		wantCode(t, err, code)
	}
}

func TestResolutionErrorReason(t *testing.T) {
	for code, want := range map[string]reason.Code{
		CodeInvalidDID:           reason.Malformed,
		CodeInvalidDIDDocument:   reason.Malformed,
		CodeInvalidPublicKey:     reason.Malformed,
		CodeNotFound:             reason.UnknownKey,
		CodeMethodNotSupported:   reason.UnknownKey,
		CodeInternalError:        reason.UnknownKey,
		CodeInvalidPublicKeyType: reason.UnknownKey,
	} {
		err := error(&ResolutionError{Code: code, DID: "did:example:1", Err: errors.New("cause")})
		if got := err.(*ResolutionError).Reason(); got != want {
			t.Errorf("%s: Reason() = %s, want %s", code, got, want)
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: errors.Is(err, %s) = false", code, want)
		}
		if c, ok := reason.CodeOf(err); ok {
			t.Errorf("%s: reason.CodeOf found %s; ResolutionError is not a reason.Error", code, c)
		}
		if err.Error() == "" {
			t.Errorf("%s: empty message", code)
		}
	}
}
