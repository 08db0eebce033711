package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
)

// TestFaultOAuthReplayAfterRestart: a DPoP proof and a client assertion
// accepted by the token endpoint before a restart are refused replayed
// after it (the reliability issue: "a presentation, DPoP proof or
// principal call accepted before a restart is refused replayed after it").
func TestFaultOAuthReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir)
	addr := "127.0.0.1" + strings.TrimPrefix(ts.url, "http://localhost")
	k, _ := ts.oauthAgent(t)
	dk := k.PrivateKey()

	usedForm := ts.tokenForm(t, k)
	usedProof := proof(t, dk, http.MethodPost, ts.tokenURL(), "")
	if a := ts.postForm(t, issuer.TokenPath, usedForm, map[string]string{"DPoP": usedProof}); a.status != http.StatusOK {
		t.Fatalf("first use: %d %+v", a.status, a.err)
	}
	ts.close()
	ts = startOn(t, dir, nil, addr)

	// The same DPoP proof with a fresh assertion.
	a := ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": usedProof})
	if a.status != http.StatusBadRequest || a.err.Error != oauth.InvalidDPoPProof || !strings.HasPrefix(a.err.ErrorDescription, "replayed") {
		t.Errorf("DPoP proof replayed after restart: %d %+v; want 400 invalid_dpop_proof (replayed)", a.status, a.err)
	}
	// The same assertion with a fresh proof.
	a = ts.postForm(t, issuer.TokenPath, usedForm, map[string]string{"DPoP": proof(t, dk, http.MethodPost, ts.tokenURL(), "")})
	if a.status != http.StatusUnauthorized || a.err.Error != oauth.InvalidClient || !strings.HasPrefix(a.err.ErrorDescription, "replayed") {
		t.Errorf("client assertion replayed after restart: %d %+v; want 401 invalid_client (replayed)", a.status, a.err)
	}
	// Fresh ones are accepted.
	if a := ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": proof(t, dk, http.MethodPost, ts.tokenURL(), "")}); a.status != http.StatusOK {
		t.Errorf("fresh request after restart: %d %+v", a.status, a.err)
	}
}
