package ginmiddleware_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/ginmiddleware"
)

// TestAccessTokenGin: the gin adapter takes DPoP-bound access tokens as
// the net/http middleware does, and serves the resource metadata.
func TestAccessTokenGin(t *testing.T) {
	f := newFixture(t)
	pc, err := vc.ParseCredential(f.cred)
	if err != nil {
		t.Fatal(err)
	}
	jkt, _ := oauth.Thumbprint(f.agent.Key.Public())
	now := f.clock.Now()
	tok, err := oauth.SignAccessToken(f.issuer.Signer, &oauth.AccessToken{Issuer: "https://issuer.example.com",
		Subject: f.agent.DID, ClientID: f.agent.DID, Audience: vc.Audience{aud}, Scope: "calendar:read", JTI: "t1",
		IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(), Confirmation: &oauth.Confirmation{JKT: jkt},
		CredentialID: pc.Credential.ID, CredentialStatus: pc.Credential.CredentialStatus})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method string) *httptest.ResponseRecorder {
		p, err := oauth.NewProof(f.agent.Key, oauth.ProofOptions{Method: method, URL: eventsURL, AccessToken: tok, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(method, eventsURL, nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", p)
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, r)
		return w
	}
	if w := call(http.MethodGet); w.Code != http.StatusOK || f.calls != 1 || f.res == nil || f.res.AccessToken == nil || f.ctxResult != f.res {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	f.wantEvents(t, 1, audit.DecisionAllow, "")
	w := call(http.MethodPost) // needs calendar:write
	if w.Code != http.StatusForbidden || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("POST: %d %v", w.Code, w.Header())
	}
	f.wantEvents(t, 2, audit.DecisionDeny, reason.InsufficientScope)

	r := gin.New()
	r.GET("/.well-known/oauth-protected-resource", ginmiddleware.ProtectedResource(oauth.ProtectedResourceMetadata{
		Resource: aud, AuthorizationServers: []string{"https://issuer.example.com"}, DPoPBoundAccessTokensRequired: true}))
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource", nil))
	var md oauth.ProtectedResourceMetadata
	if err := json.Unmarshal(w.Body.Bytes(), &md); err != nil || md.Resource != aud || !md.DPoPBoundAccessTokensRequired {
		t.Fatalf("metadata: %d %s", w.Code, w.Body)
	}
}
