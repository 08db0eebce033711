package middleware_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
	"github.com/agentid/agentid/verifier/verifiertest"
)

const issuerURL = "https://issuer.example.com"

// token signs an access token of f's issuer for f's agent, bound to the
// agent's key, granting calendar:read at aud for 5 minutes; mod may
// change the claims first.
func (f *fixture) token(t *testing.T, mod func(*oauth.AccessToken)) string {
	t.Helper()
	pc, err := vc.ParseCredential(f.cred)
	if err != nil {
		t.Fatal(err)
	}
	jkt, _ := oauth.Thumbprint(f.agent.Key.Public())
	now := f.clock.Now()
	at := &oauth.AccessToken{Issuer: issuerURL, Subject: f.agent.DID, ClientID: f.agent.DID, Audience: vc.Audience{aud},
		Scope: "calendar:read", JTI: "t-" + now.String(), IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(),
		Confirmation: &oauth.Confirmation{JKT: jkt}, CredentialID: pc.Credential.ID, CredentialStatus: pc.Credential.CredentialStatus}
	if mod != nil {
		mod(at)
	}
	tok, err := oauth.SignAccessToken(f.issuer.Signer, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) proof(t *testing.T, key ed25519.PrivateKey, method, u, tok string) string {
	t.Helper()
	p, err := oauth.NewProof(key, oauth.ProofOptions{Method: method, URL: u, AccessToken: tok, Now: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func doToken(h http.Handler, method, target, scheme, tok, proof string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Header.Set("Authorization", scheme+" "+tok)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// challenge returns the named challenge of the answer.
func challenge(w *httptest.ResponseRecorder, scheme string) string {
	for _, v := range w.Result().Header.Values("WWW-Authenticate") {
		if strings.HasPrefix(v, scheme+" ") {
			return v
		}
	}
	return ""
}

func TestAccessTokens(t *testing.T) {
	f := newFixture(t)
	f.cfg.ResourceMetadata = aud + "/.well-known/oauth-protected-resource"
	h := &recorder{}
	mw := middleware.Require(f.cfg, "calendar:read")(h)
	_, other, _ := ed25519.GenerateKey(rand.Reader)

	tok := f.token(t, nil)
	w := doToken(mw, "GET", eventsURL, "DPoP", tok, f.proof(t, f.agent.Key, "GET", eventsURL, tok))
	if w.Code != http.StatusOK || h.calls != 1 || h.res.Agent != f.agent.DID || h.res.AccessToken == nil || h.res.AccessToken.JTI != "t-"+f.clock.Now().String() {
		t.Fatalf("good token: %d %s", w.Code, w.Body)
	}
	f.wantLastEvent(t, 1, audit.DecisionAllow, "")

	replayed := f.proof(t, f.agent.Key, "GET", eventsURL, tok)
	if w := doToken(mw, "GET", eventsURL, "DPoP", tok, replayed); w.Code != http.StatusOK {
		t.Fatalf("first use: %d", w.Code)
	}
	expired := f.token(t, func(at *oauth.AccessToken) { at.IssuedAt -= 600; at.Expiry -= 600 })
	otherAud := f.token(t, func(at *oauth.AccessToken) { at.Audience = vc.Audience{"https://payroll.example.com"} })
	untrusted := f.token(t, func(at *oauth.AccessToken) { at.Issuer = "https://evil.example.com" })
	unbound := f.token(t, func(at *oauth.AccessToken) { at.Confirmation = nil })
	noStatus := f.token(t, func(at *oauth.AccessToken) { at.CredentialStatus = nil })
	bigScope := f.token(t, func(at *oauth.AccessToken) { at.Scope = "calendar:write" })
	cases := []struct {
		name, scheme, tok, proof string
		status                   int
		code                     oauth.ErrorCode
		reason                   reason.Code
	}{
		{"token used without DPoP", "DPoP", tok, "", 401, oauth.InvalidDPoPProof, reason.Malformed},
		{"DPoP-bound token as bearer", "Bearer", tok, "", 401, oauth.InvalidToken, reason.Malformed},
		{"proof of another key", "DPoP", tok, f.proof(t, other, "GET", eventsURL, tok), 401, oauth.InvalidDPoPProof, reason.HolderMismatch},
		{"proof replayed", "DPoP", tok, replayed, 401, oauth.InvalidDPoPProof, reason.Replayed},
		{"proof for another method", "DPoP", tok, f.proof(t, f.agent.Key, "POST", eventsURL, tok), 401, oauth.InvalidDPoPProof, reason.RequestMismatch},
		{"proof for another URL", "DPoP", tok, f.proof(t, f.agent.Key, "GET", aud+"/v1/other", tok), 401, oauth.InvalidDPoPProof, reason.RequestMismatch},
		{"proof with a wrong ath", "DPoP", tok, f.proof(t, f.agent.Key, "GET", eventsURL, expired), 401, oauth.InvalidDPoPProof, reason.RequestMismatch},
		{"token for another resource", "DPoP", otherAud, f.proof(t, f.agent.Key, "GET", eventsURL, otherAud), 401, oauth.InvalidToken, reason.WrongAudience},
		{"expired token", "DPoP", expired, f.proof(t, f.agent.Key, "GET", eventsURL, expired), 401, oauth.InvalidToken, reason.Expired},
		{"untrusted issuer", "DPoP", untrusted, f.proof(t, f.agent.Key, "GET", eventsURL, untrusted), 401, oauth.InvalidToken, reason.UntrustedIssuer},
		{"bearer token not accepted", "Bearer", unbound, "", 401, oauth.InvalidToken, reason.Malformed},
		{"no status entries", "DPoP", noStatus, f.proof(t, f.agent.Key, "GET", eventsURL, noStatus), 401, oauth.InvalidToken, reason.StatusUnavailable},
		{"scope not granted", "DPoP", bigScope, f.proof(t, f.agent.Key, "GET", eventsURL, bigScope), 403, oauth.InsufficientScope, reason.InsufficientScope},
		{"not a token", "DPoP", "abc", f.proof(t, f.agent.Key, "GET", eventsURL, "abc"), 401, oauth.InvalidToken, reason.Malformed},
		{"forged signature", "DPoP", tok[:len(tok)-4] + "AAAA", f.proof(t, f.agent.Key, "GET", eventsURL, tok[:len(tok)-4]+"AAAA"), 401, oauth.InvalidToken, reason.BadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := doToken(mw, "GET", eventsURL, tc.scheme, tc.tok, tc.proof)
			var p struct{ Code string }
			_ = json.Unmarshal(w.Body.Bytes(), &p)
			dp := challenge(w, "DPoP")
			if w.Code != tc.status || p.Code != string(tc.reason) || !strings.Contains(dp, `error="`+string(tc.code)+`"`) ||
				!strings.Contains(dp, `resource_metadata="`+f.cfg.ResourceMetadata+`"`) || !strings.Contains(challenge(w, "Bearer"), "resource_metadata=") {
				t.Fatalf("got %d %s %v, want %d %s (%s)", w.Code, w.Body, w.Result().Header.Values("WWW-Authenticate"), tc.status, tc.code, tc.reason)
			}
		})
	}
	// Revoked and suspended: the status bits, read on every request.
	for _, st := range []struct {
		purpose string
		code    reason.Code
	}{{"revocation", reason.Revoked}, {"suspension", reason.Suspended}} {
		idx := verifiertest.StatusIndex(t, f.cred, st.purpose)
		f.status.Set(idx, reason.New(st.code, ""))
		tok := f.token(t, nil)
		w := doToken(mw, "GET", eventsURL, "DPoP", tok, f.proof(t, f.agent.Key, "GET", eventsURL, tok))
		if w.Code != 401 || !strings.Contains(challenge(w, "DPoP"), `error="invalid_token"`) || !strings.Contains(w.Body.String(), string(st.code)) {
			t.Fatalf("%s: %d %s", st.purpose, w.Code, w.Body)
		}
		f.status.Set(idx, nil)
	}
	// Every decision left one audit event.
	if n := len(f.events(t)); n != 2+len(cases)+2 {
		t.Fatalf("%d audit events, want %d", n, 2+len(cases)+2)
	}
}

func TestAccessTokenBearerSwitch(t *testing.T) {
	f := newFixture(t, verifier.WithBearerTokens())
	mw := middleware.Require(f.cfg, "calendar:read")(&recorder{})
	unbound := f.token(t, func(at *oauth.AccessToken) { at.Confirmation = nil })
	if w := doToken(mw, "GET", eventsURL, "Bearer", unbound, ""); w.Code != http.StatusOK {
		t.Fatalf("bearer token with the switch: %d %s", w.Code, w.Body)
	}
	// A DPoP-bound token still needs its proof.
	tok := f.token(t, nil)
	if w := doToken(mw, "GET", eventsURL, "Bearer", tok, ""); w.Code != 401 {
		t.Fatalf("bound token as bearer: %d", w.Code)
	}
}

func TestNoCredentialsChallenges(t *testing.T) {
	f := newFixture(t)
	f.cfg.ResourceMetadata = middleware.MetadataURL(aud + "/mcp")
	w := do(middleware.Require(f.cfg)(&recorder{}), "GET", eventsURL, "")
	if f.cfg.ResourceMetadata != aud+"/.well-known/oauth-protected-resource/mcp" {
		t.Fatalf("MetadataURL = %s", f.cfg.ResourceMetadata)
	}
	want := `Bearer resource_metadata="` + f.cfg.ResourceMetadata + `"`
	if w.Code != 401 || challenge(w, "Bearer") != want || !strings.HasPrefix(challenge(w, "DPoP"), `DPoP algs="EdDSA ES256", resource_metadata=`) || challenge(w, "VP") == "" {
		t.Fatalf("challenges: %d %v", w.Code, w.Result().Header.Values("WWW-Authenticate"))
	}
}

// TestChallengeScope: a 401 names the scope to ask for (RFC 6750 §3), the
// route's own or, when it names none, ChallengeScopes; MCP hosts request
// exactly that scope (else every scope of the resource's metadata, which
// an agent granted fewer is refused). A 403 for a token lacking the
// route's scope names the route's scopes, for the host's step-up.
func TestChallengeScope(t *testing.T) {
	f := newFixture(t)
	f.cfg.ResourceMetadata = middleware.MetadataURL(aud + "/mcp")
	md := `resource_metadata="` + f.cfg.ResourceMetadata + `"`
	tests := []struct {
		name        string
		challenge   []string
		route       []string
		wantBearer  string
		useTokenFor string // a calendar:read token, sent when set
		wantCode    int
	}{
		{"none", nil, nil, `Bearer ` + md, "", 401},
		{"config", []string{"calendar:read"}, nil, `Bearer scope="calendar:read", ` + md, "", 401},
		{"route wins", []string{"calendar:read"}, []string{"calendar:write", "mail:send"}, `Bearer scope="calendar:write mail:send", ` + md, "", 401},
		{"step-up", nil, []string{"calendar:write"}, `Bearer error="insufficient_scope", error_description=`, "token", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.cfg.ChallengeScopes = tt.challenge
			h := middleware.Require(f.cfg, tt.route...)(&recorder{})
			var w *httptest.ResponseRecorder
			if tt.useTokenFor != "" {
				tok := f.token(t, nil)
				w = doToken(h, "GET", eventsURL, "DPoP", tok, f.proof(t, f.agent.Key, "GET", eventsURL, tok))
			} else {
				w = do(h, "GET", eventsURL, "")
			}
			got := challenge(w, "Bearer")
			if w.Code != tt.wantCode || !strings.HasPrefix(got, tt.wantBearer) {
				t.Fatalf("%d %q, want %d %q…", w.Code, got, tt.wantCode, tt.wantBearer)
			}
			if tt.useTokenFor != "" && !strings.Contains(got, `scope="calendar:write"`) {
				t.Fatalf("step-up challenge names no scope: %q", got)
			}
			if dp := challenge(w, "DPoP"); tt.wantCode == 401 && !strings.HasSuffix(dp, strings.TrimPrefix(tt.wantBearer, "Bearer ")) {
				t.Fatalf("DPoP challenge %q differs from the Bearer one %q", dp, got)
			}
		})
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	md := oauth.ProtectedResourceMetadata{Resource: aud, AuthorizationServers: []string{issuerURL},
		ScopesSupported: []string{"calendar:read"}, DPoPBoundAccessTokensRequired: true}
	w := httptest.NewRecorder()
	middleware.ProtectedResource(md).ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource", nil))
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Header().Get("Content-Type") != "application/json" {
		t.Fatal(err, w.Header())
	}
	if got["resource"] != aud || got["dpop_bound_access_tokens_required"] != true || got["authorization_servers"].([]any)[0] != issuerURL {
		t.Fatalf("metadata: %v", got)
	}
}

// TestAccessTokenDPoPNonce: a resource server that requires DPoP nonces
// answers a proof without one 401 use_dpop_nonce with a DPoP-Nonce, and
// takes the retry that carries it.
func TestAccessTokenDPoPNonce(t *testing.T) {
	nonces, err := oauth.NewNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, verifier.WithDPoPNonces(nonces))
	mw := middleware.Require(f.cfg, "calendar:read")(&recorder{})
	tok := f.token(t, nil)
	w := doToken(mw, "GET", eventsURL, "DPoP", tok, f.proof(t, f.agent.Key, "GET", eventsURL, tok))
	n := w.Header().Get("DPoP-Nonce")
	if w.Code != 401 || !strings.Contains(challenge(w, "DPoP"), `error="use_dpop_nonce"`) || n == "" {
		t.Fatalf("without a nonce: %d %v", w.Code, w.Header())
	}
	p, err := oauth.NewProof(f.agent.Key, oauth.ProofOptions{Method: "GET", URL: eventsURL, AccessToken: tok, Nonce: n, Now: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if w := doToken(mw, "GET", eventsURL, "DPoP", tok, p); w.Code != http.StatusOK {
		t.Fatalf("with the nonce: %d %s", w.Code, w.Body)
	}
}
