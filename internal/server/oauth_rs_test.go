package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
)

// resourceServer is a resource API in front of a real issuer: the
// verifier library with the issuer's did:web, its status lists and its
// change feed, and the net/http middleware accepting DPoP tokens.
func resourceServer(t *testing.T, ts *testServer) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{
		Issuers: []string{ts.app.Issuer.DID()}, AllowHTTPLocalhost: true,
		StatusEvents: []string{ts.url + "/v1/status/events"},
	}, verifier.WithAudience(calendar))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &middleware.Config{Verifier: v, BaseURL: calendar, ResourceMetadata: calendar + "/.well-known/oauth-protected-resource"}
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/oauth-protected-resource", middleware.ProtectedResource(oauth.ProtectedResourceMetadata{
		Resource: calendar, AuthorizationServers: []string{ts.url}, ScopesSupported: []string{"calendar:read"},
		DPoPBoundAccessTokensRequired: true}))
	mux.Handle("GET /v1/events", middleware.Require(cfg, "calendar:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, _ := middleware.FromContext(r.Context())
		_, _ = w.Write([]byte(res.Agent))
	})))
	rs := httptest.NewServer(mux)
	t.Cleanup(rs.Close)
	return rs
}

// callRS sends GET /v1/events to rs with the token; the proof names the
// API's public URL.
func callRS(t *testing.T, rs *httptest.Server, tok *client.Token) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, calendar+"/v1/events", nil)
	if err := tok.Authorize(req); err != nil {
		t.Fatal(err)
	}
	req.URL.Scheme, req.URL.Host, req.Host = "http", strings.TrimPrefix(rs.URL, "http://"), ""
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestOAuthRevokeSeenByResourceServer: after the credential is revoked,
// the next request with a token issued before is refused by a resource
// server that follows the issuer's feed, offline, within a second.
func TestOAuthRevokeSeenByResourceServer(t *testing.T) {
	ts := start(t, t.TempDir())
	rs := resourceServer(t, ts)
	k, iss := ts.oauthAgent(t)
	tok, err := client.New(ts.url, nil).Token(context.Background(), k, client.TokenOptions{Resources: []string{calendar}, Scopes: []string{"calendar:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp := callRS(t, rs, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("before revocation: %s", resp.Status)
	}
	time.Sleep(100 * time.Millisecond) // let the feed connect, as a running server's would have
	start := time.Now()
	if _, err := ts.admin.Revoke(context.Background(), iss.ID); err != nil {
		t.Fatal(err)
	}
	for {
		resp := callRS(t, rs, tok)
		if resp.StatusCode == http.StatusUnauthorized {
			if ch := resp.Header.Values("WWW-Authenticate"); !strings.Contains(strings.Join(ch, " "), `error="invalid_token"`) {
				t.Fatalf("challenge %v", ch)
			}
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("still %s a second after the revocation", resp.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation seen by the resource server after %v", time.Since(start).Round(time.Millisecond))
}

// TestOAuthTransportFollowsNonce: Token.Transport retries a request a
// resource server refused with use_dpop_nonce, once, with its nonce.
func TestOAuthTransportFollowsNonce(t *testing.T) {
	ts := start(t, t.TempDir())
	nonces, err := oauth.NewNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.ForIssuers(context.Background(), verifier.TrustConfig{Issuers: []string{ts.app.Issuer.DID()}, AllowHTTPLocalhost: true},
		verifier.WithAudience(calendar), verifier.WithDPoPNonces(nonces))
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	cfg := &middleware.Config{Verifier: v, BaseURL: calendar}
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		middleware.Require(cfg, "calendar:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("ok"))
		})).ServeHTTP(w, r)
	}))
	defer rs.Close()
	k, _ := ts.oauthAgent(t)
	tok, err := client.New(ts.url, nil).Token(context.Background(), k, client.TokenOptions{Resources: []string{calendar}})
	if err != nil {
		t.Fatal(err)
	}
	// The proof names the API's public URL; the transport sends it to rs.
	hc := &http.Client{Transport: tok.Transport(redirectTo(rs.URL))}
	for i := range 2 {
		resp, err := hc.Get(calendar + "/v1/events")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
	}
	if calls != 3 { // the first request twice (nonce asked), the second once
		t.Fatalf("%d requests reached the server, want 3", calls)
	}
}

// redirectTo sends every request to base, keeping its path.
type redirectTo string

func (r redirectTo) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = "http", strings.TrimPrefix(string(r), "http://"), ""
	return http.DefaultTransport.RoundTrip(req)
}
