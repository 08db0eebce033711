package did

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is a loopback listener that counts connections and
// answers them with h.
func countingServer(t *testing.T, h http.HandlerFunc) (port string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Port(), conns
}

// TestWebResolverRefusesNonPublic: a did:web whose host resolves to a
// loopback address is refused before any connection, unless the operator
// allows that host. Before, the resolver connected to it.
func TestWebResolverRefusesNonPublic(t *testing.T) {
	port, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	d := "did:web:localhost%3A" + port
	tests := []struct {
		name      string
		opts      WebOptions
		wantConns int64
	}{
		{"not allowed", WebOptions{}, 0},
		{"another host allowed", WebOptions{AllowHosts: []string{"issuer.internal"}}, 0},
		{"allowed explicitly", WebOptions{AllowHosts: []string{"localhost"}}, 1},
		{"allowed by AllowHTTPLocalhost", WebOptions{AllowHTTPLocalhost: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := conns.Load()
			tt.opts.Timeout = 2 * time.Second
			_, err := NewWebResolver(tt.opts).Resolve(context.Background(), d)
			if err == nil {
				t.Fatal("resolved")
			}
			time.Sleep(20 * time.Millisecond)
			if n := conns.Load() - before; n != tt.wantConns {
				t.Fatalf("%d connections, want %d (err %v)", n, tt.wantConns, err)
			}
		})
	}
	for _, s := range []string{"127.0.0.1:80", "[::1]:80", "10.1.2.3:443", "169.254.169.254:80", "0.0.0.0:80",
		"[::]:80", "224.0.0.1:80", "[::ffff:127.0.0.1]:80", "100.64.1.1:80", "[fd00::1]:443"} {
		if publicOnly("tcp", s, nil) == nil {
			t.Errorf("%s accepted", s)
		}
	}
	if err := publicOnly("tcp", "93.184.215.14:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
}

// TestWebResolverNoCrossHostRedirect: a redirect to another host (here
// another port) is refused without contacting it; the same host is fine.
func TestWebResolverNoCrossHostRedirect(t *testing.T) {
	otherPort, otherConns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	ts := newTestServer(t)
	doc := NewWebDocument(ts.did, []WebKey{{ID: "k1", Public: fixedEd25519()}})
	ts.setHandler(func(w http.ResponseWriter, r *http.Request, did string) {
		switch r.URL.Path {
		case "/.well-known/did.json":
			http.Redirect(w, r, "http://localhost:"+otherPort+"/.well-known/did.json", http.StatusFound)
		case "/same/did.json":
			http.Redirect(w, r, "/.well-known/moved.json", http.StatusFound)
		case "/.well-known/moved.json":
			serveDoc(doc)(w, &http.Request{URL: &url.URL{Path: "/.well-known/did.json"}}, did)
		}
	})
	_, err := localResolver(WebOptions{}).Resolve(context.Background(), ts.did)
	wantCode(t, err, CodeInternalError)
	if n := otherConns.Load(); n != 0 {
		t.Fatalf("%d connections to the redirect target", n)
	}
	// A same-host redirect is followed (the document's id is still checked).
	ts.setHandler(func(w http.ResponseWriter, r *http.Request, did string) {
		if r.URL.Path == "/.well-known/did.json" {
			http.Redirect(w, r, "/.well-known/moved.json", http.StatusFound)
			return
		}
		serveDoc(doc)(w, &http.Request{URL: &url.URL{Path: "/.well-known/did.json"}}, did)
	})
	if _, err := localResolver(WebOptions{}).Resolve(context.Background(), ts.did); err != nil {
		t.Fatalf("same-host redirect: %v", err)
	}
}

// TestWebResolverNegativeCache: a failing host is fetched once within the
// negative TTL and again after it.
func TestWebResolverNegativeCache(t *testing.T) {
	ts := newTestServer(t)
	ts.setHandler(func(w http.ResponseWriter, r *http.Request, _ string) { w.WriteHeader(500) })
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	r := localResolver(WebOptions{NegativeTTL: 10 * time.Second, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	for range 5 {
		_, err := r.Resolve(context.Background(), ts.did)
		wantCode(t, err, CodeInternalError)
	}
	if n := ts.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within the negative TTL, want 1", n)
	}
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	_, _ = r.Resolve(context.Background(), ts.did)
	if n := ts.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after the negative TTL, want 2", n)
	}
	for i := range 3 * DefaultWebCacheSize {
		r.mu.Lock()
		r.storeFailure(ts.did+string(rune('a'+i%26))+string(rune(i)), fail(CodeInternalError, "x", "x"))
		r.mu.Unlock()
	}
	if len(r.failed) > DefaultWebCacheSize {
		t.Fatalf("negative cache holds %d entries", len(r.failed))
	}
}

// TestWebResolverFetchBounds: with one fetch per host in flight, a second
// DID on the same host fails at once instead of queueing behind it.
func TestWebResolverFetchBounds(t *testing.T) {
	ts := newTestServer(t)
	release := make(chan struct{})
	defer close(release)
	ts.setHandler(func(w http.ResponseWriter, r *http.Request, _ string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := localResolver(WebOptions{MaxFetchesPerHost: 1, Timeout: 5 * time.Second})
	go r.Resolve(context.Background(), ts.did)
	deadline := time.Now().Add(2 * time.Second)
	for ts.hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_, err := r.Resolve(context.Background(), ts.did+":other")
	wantCode(t, err, CodeInternalError)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %v", d)
	}
	if n := ts.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}
