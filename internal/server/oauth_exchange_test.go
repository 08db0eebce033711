package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
)

// TestOAuthTokenExchange: RFC 8693 with the agent's vp+jwt as the subject
// token (addressed to the issuer, enveloping its credential).
func TestOAuthTokenExchange(t *testing.T) {
	ts := start(t, t.TempDir())
	k, iss := ts.oauthAgent(t)
	vp := func() string {
		p, err := k.Present(client.PresentOptions{Credential: iss.Credential, Audience: ts.url, Method: http.MethodPost, URL: ts.tokenURL()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	form := func(subject string) url.Values {
		return url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {oauth.TokenTypeVP}, "resource": {calendar}, "scope": {"calendar:read"}}
	}
	dpop := func() map[string]string {
		return map[string]string{"DPoP": proof(t, k.PrivateKey(), http.MethodPost, ts.tokenURL(), "")}
	}
	used := vp()
	a := ts.postForm(t, issuer.TokenPath, form(used), dpop())
	if a.status != http.StatusOK || a.ok.IssuedTokenType != oauth.TokenTypeAccessToken || a.ok.TokenType != "DPoP" {
		t.Fatalf("exchange: %d %+v %+v", a.status, a.ok, a.err)
	}
	_, at, err := oauth.ParseAccessToken(a.ok.AccessToken)
	if err != nil || at.Subject != k.DID || at.CredentialID != iss.ID || at.Scope != "calendar:read" {
		t.Fatalf("claims %+v: %v", at, err)
	}
	// Through the client too.
	if tok, err := client.New(ts.url, nil).Token(context.Background(), k, client.TokenOptions{SubjectToken: vp(), Resources: []string{calendar}}); err != nil || tok.Type != "DPoP" {
		t.Fatalf("client exchange: %v", err)
	}

	other := newKey(t)
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   oauth.ErrorCode
		reason string
	}{
		{"presentation replayed", form(used), 400, oauth.InvalidRequest, "replayed"},
		{"wrong token type", func() url.Values { f := form(vp()); f.Set("subject_token_type", oauth.TokenTypeAccessToken); return f }(), 400, oauth.InvalidRequest, ""},
		{"no subject token", func() url.Values { f := form(""); return f }(), 400, oauth.InvalidRequest, ""},
		{"presentation for another audience", func() url.Values {
			p, _ := k.Present(client.PresentOptions{Credential: iss.Credential, Audience: calendar})
			return form(p)
		}(), 400, oauth.InvalidRequest, "wrong_audience"},
		{"someone else's credential", func() url.Values {
			p, _ := other.Present(client.PresentOptions{Credential: iss.Credential, Audience: ts.url})
			return form(p)
		}(), 400, oauth.InvalidRequest, "holder_mismatch"},
		{"scope beyond", func() url.Values { f := form(vp()); f.Set("scope", "calendar:admin"); return f }(), 400, oauth.InvalidScope, "insufficient_scope"},
		// RFC 8693 §2.1: actor_token_type is REQUIRED with an actor_token
		// and MUST NOT be sent without one; agentid takes no actor token
		// (a sub-agent's act comes from its credential), so either is
		// refused rather than ignored (§2.2.2: invalid_request).
		{"actor token", func() url.Values {
			f := form(vp())
			f.Set("actor_token", vp())
			f.Set("actor_token_type", oauth.TokenTypeVP)
			return f
		}(), 400, oauth.InvalidRequest, ""},
		{"actor token without its type", func() url.Values { f := form(vp()); f.Set("actor_token", vp()); return f }(), 400, oauth.InvalidRequest, ""},
		{"actor token type without a token", func() url.Values { f := form(vp()); f.Set("actor_token_type", oauth.TokenTypeVP); return f }(), 400, oauth.InvalidRequest, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := ts.postForm(t, issuer.TokenPath, tc.form, dpop())
			if a.status != tc.status || a.err.Error != tc.code || !strings.HasPrefix(a.err.ErrorDescription, tc.reason) {
				t.Fatalf("got %d %+v, want %d %s (%s)", a.status, a.err, tc.status, tc.code, tc.reason)
			}
		})
	}
	// A revoked credential exchanges no more (RFC 8693 §2.2.2: a subject
	// token unacceptable by policy is invalid_request, not invalid_grant).
	if _, err := ts.admin.Revoke(context.Background(), iss.ID); err != nil {
		t.Fatal(err)
	}
	a = ts.postForm(t, issuer.TokenPath, form(vp()), dpop())
	if a.status != 400 || a.err.Error != oauth.InvalidRequest || !strings.HasPrefix(a.err.ErrorDescription, "revoked") {
		t.Fatalf("revoked: %d %+v", a.status, a.err)
	}
}

// TestOAuthTokenExchangeNonce: with server nonces, the client's retry
// with the nonce sends the same subject token, which must not have been
// consumed by the first try.
func TestOAuthTokenExchangeNonce(t *testing.T) {
	ts, _ := serveTest(t, "127.0.0.1:0", Config{DataDir: t.TempDir(), OAuthDPoPNonce: true}, nil)
	k, iss := ts.oauthAgent(t)
	p, err := k.Present(client.PresentOptions{Credential: iss.Credential, Audience: ts.url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(ts.url, nil).Token(context.Background(), k, client.TokenOptions{SubjectToken: p, Resources: []string{calendar}}); err != nil {
		t.Fatal(err)
	}
}
