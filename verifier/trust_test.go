package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/verifiertest"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// offline is an HTTP client that fails every request at once.
var offline = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline")
})}

// webIssuer serves the did:web document of an in-memory issuer on a
// localhost port and returns it with its DID.
func webIssuer(t *testing.T) *verifiertest.Issuer {
	t.Helper()
	var doc []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/did.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/did+json")
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	issuerDID := "did:web:localhost%3A" + u.Port()
	k := verifiertest.SeedKey("web issuer")
	is := verifiertest.NewIssuerWithKey(t, issuerDID, new(verifiertest.Keys), k)
	var err error
	if doc, err = json.Marshal(did.NewWebDocument(issuerDID, []did.WebKey{{ID: "k1", Public: k.Public()}})); err != nil {
		t.Fatal(err)
	}
	return is
}

func TestForIssuers(t *testing.T) {
	const aud = "https://calendar.example.com"
	now := time.Now()
	keys, status := new(verifiertest.Keys), new(verifiertest.Status)
	local := verifiertest.NewIssuer(t, "did:web:issuer.example.com", keys)
	web := webIssuer(t)
	agent := verifiertest.NewAgent(t, keys)

	tests := []struct {
		name    string
		cfg     verifier.TrustConfig
		issuer  *verifiertest.Issuer // whose credential is presented
		wantNew bool                 // ForIssuers fails
		want    reason.Code          // "" for a valid presentation
	}{
		{name: "no issuer", cfg: verifier.TrustConfig{Keys: keys, Status: status}, wantNew: true},
		{name: "issuer not a DID", cfg: verifier.TrustConfig{Issuers: []string{"issuer.example.com"}, Keys: keys, Status: status}, wantNew: true},
		{name: "feed without a checker that follows feeds", wantNew: true,
			cfg: verifier.TrustConfig{Issuers: []string{local.DID}, Keys: keys, Status: status, StatusEvents: []string{"https://issuer.example.com/v1/status/events"}}},
		{name: "feed URL not http(s)", wantNew: true,
			cfg: verifier.TrustConfig{Issuers: []string{local.DID}, Keys: keys, StatusEvents: []string{"ftp://issuer.example.com/events"}}},
		{name: "feed over http without AllowHTTPLocalhost", wantNew: true,
			cfg: verifier.TrustConfig{Issuers: []string{local.DID}, Keys: keys, StatusEvents: []string{"http://localhost:1/v1/status/events"}}},
		{name: "given keys and status", issuer: local,
			cfg: verifier.TrustConfig{Issuers: []string{local.DID}, Keys: keys, Status: status}},
		{name: "untrusted issuer", issuer: local, want: reason.UntrustedIssuer,
			cfg: verifier.TrustConfig{Issuers: []string{"did:web:other.example.com"}, Keys: keys, Status: status}},
		{name: "default status checker fails closed", issuer: local, want: reason.StatusUnavailable,
			cfg: verifier.TrustConfig{Issuers: []string{local.DID}, Keys: keys, HTTPClient: offline}},
		{name: "default resolver, did:web over http on localhost", issuer: web,
			cfg: verifier.TrustConfig{Issuers: []string{web.DID}, AllowHTTPLocalhost: true, Status: status}},
		{name: "default resolver, https only", issuer: web, want: reason.UnknownKey,
			cfg: verifier.TrustConfig{Issuers: []string{web.DID}, Status: status}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			v, err := verifier.ForIssuers(ctx, tt.cfg, verifier.WithAudience(aud))
			if tt.wantNew {
				if err == nil {
					t.Fatal("ForIssuers succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cred := tt.issuer.Credential(t, agent.DID, aud, []string{"calendar:read"}, now, nil)
			vp := agent.Present(t, cred, aud, "GET", aud+"/v1/events", now, nil)
			res, err := v.Verify(ctx, vp, verifier.Request{Method: "GET", URL: aud + "/v1/events", Scopes: []string{"calendar:read"}})
			got, _ := reason.CodeOf(err)
			if err != nil && got == "" {
				t.Fatalf("error without a reason code: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got code %q (%v), want %q", got, err, tt.want)
			}
			if tt.want == "" && (res.Agent != agent.DID || res.Issuer != tt.issuer.DID) {
				t.Errorf("result %+v, want agent %s of issuer %s", res, agent.DID, tt.issuer.DID)
			}
		})
	}
}

func TestForIssuersFollowsFeeds(t *testing.T) {
	hit := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	feed := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/v1/status/events"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := new(verifiertest.Keys)
	if _, err := verifier.ForIssuers(ctx, verifier.TrustConfig{Issuers: []string{"did:web:issuer.example.com"}, Keys: keys,
		AllowHTTPLocalhost: true, StatusEvents: []string{feed}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hit:
	case <-time.After(5 * time.Second):
		t.Fatal("the status checker did not connect to the feed")
	}
}
