package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
)

// TestOAuthDPoPNonceAfterRestart: a DPoP server nonce issued before a
// restart is accepted after it (the nonce key is derived from the master
// key, not made by the process); a forged one is not.
func TestOAuthDPoPNonceAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ts, _ := serveTest(t, "127.0.0.1:0", Config{DataDir: dir, OAuthDPoPNonce: true}, nil)
	addr := "127.0.0.1" + strings.TrimPrefix(ts.url, "http://localhost")
	k, _ := ts.oauthAgent(t)
	a := ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": proof(t, k.PrivateKey(), http.MethodPost, ts.tokenURL(), "")})
	nonce := a.header.Get("DPoP-Nonce")
	if a.status != 400 || a.err.Error != oauth.UseDPoPNonce || nonce == "" {
		t.Fatalf("no nonce: %d %+v", a.status, a.err)
	}
	ts.close()
	ts, _ = serveTest(t, addr, Config{DataDir: dir, OAuthDPoPNonce: true}, nil)

	withNonce := func(n string) tokenAnswer {
		p, err := oauth.NewProof(k.PrivateKey(), oauth.ProofOptions{Method: http.MethodPost, URL: ts.tokenURL(), Nonce: n})
		if err != nil {
			t.Fatal(err)
		}
		return ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": p})
	}
	forged, _ := oauth.NewNonces(make([]byte, 32), 0)
	if a := withNonce(forged.Issue(ts.app.cfg.Now())); a.status != 400 || a.err.Error != oauth.UseDPoPNonce {
		t.Fatalf("a nonce under another key: %d %+v, want 400 use_dpop_nonce", a.status, a.err)
	}
	if a := withNonce(nonce); a.status != 200 {
		t.Fatalf("the nonce from before the restart: %d %+v", a.status, a.err)
	}
}
