package server

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

var b64u = base64.RawURLEncoding

// oauthAgent registers an agent with scopes calendar:read and
// calendar:write for calendar and returns its key and credential.
func (ts *testServer) oauthAgent(t testing.TB) (*client.Key, *api.Issued) {
	t.Helper()
	k := newKey(t)
	iss, err := ts.issue(t, ts.admin, k, []string{"calendar:read", "calendar:write"})
	if err != nil {
		t.Fatal(err)
	}
	return k, iss
}

type tokenAnswer struct {
	status int
	header http.Header
	ok     oauth.TokenResponse
	err    oauth.ErrorResponse
	// introspection is the body of a 200 decoded as RFC 7662's.
	introspection oauth.Introspection
}

// postForm posts a form to path with extra headers.
func (ts *testServer) postForm(t testing.TB, path string, form url.Values, hdr map[string]string) tokenAnswer {
	t.Helper()
	a := postFormTo(t, http.DefaultClient, ts.url, path, form, hdr)
	if cc := a.header.Get("Cache-Control"); path != "" && !strings.Contains(cc, "no-store") {
		t.Errorf("%s answered Cache-Control %q, want no-store", path, cc)
	}
	return a
}

// postFormTo posts a form to base+path with extra headers through hc and
// decodes the answer as the OAuth endpoints give it.
func postFormTo(t testing.TB, hc *http.Client, base, path string, form url.Values, hdr map[string]string) tokenAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(b, &a.ok)
		_ = json.Unmarshal(b, &a.introspection)
	} else {
		_ = json.Unmarshal(b, &a.err)
	}
	return a
}

func (ts *testServer) tokenURL() string { return ts.url + issuer.TokenPath }

// tokenForm is a client_credentials request of agent k.
func (ts *testServer) tokenForm(t testing.TB, k *client.Key) url.Values {
	return ts.tokenFormAt(t, k, time.Now())
}

func (ts *testServer) tokenFormAt(t testing.TB, k *client.Key, now time.Time) url.Values {
	a, err := oauth.NewClientAssertion(k.Signer, k.DID, ts.tokenURL(), now)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"grant_type": {oauth.GrantClientCredentials}, "client_id": {k.DID},
		"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {a},
		"scope": {"calendar:read"}, "resource": {calendar}}
}

func proof(t testing.TB, key crypto.Signer, method, u, token string) string {
	t.Helper()
	p, err := oauth.NewProof(key, oauth.ProofOptions{Method: method, URL: u, AccessToken: token})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signJWT signs header and claims with an Ed25519 key, however odd they
// are.
func signJWT(priv ed25519.PrivateKey, header, claims any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := b64u.EncodeToString(h) + "." + b64u.EncodeToString(c)
	return in + "." + b64u.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

func TestOAuthMetadataAndJWKS(t *testing.T) {
	ts := start(t, t.TempDir())
	var md map[string]any
	getJSON(t, ts.url+"/.well-known/oauth-authorization-server", &md)
	want := map[string]any{"issuer": ts.url, "token_endpoint": ts.url + "/oauth/token", "jwks_uri": ts.url + "/.well-known/jwks.json",
		"introspection_endpoint": ts.url + "/oauth/introspect", "revocation_endpoint": ts.url + "/oauth/revoke"}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %v, want %v", k, md[k], v)
		}
	}
	for _, k := range []string{"authorization_endpoint", "response_types_supported", "grant_types_supported",
		"token_endpoint_auth_methods_supported", "token_endpoint_auth_signing_alg_values_supported", "dpop_signing_alg_values_supported"} {
		if md[k] == nil {
			t.Errorf("metadata lacks %s", k)
		}
	}
	// RFC 8414 §2: an endpoint whose auth methods name private_key_jwt
	// MUST list its signing algorithms too.
	for _, e := range []string{"token_endpoint", "introspection_endpoint", "revocation_endpoint"} {
		if !strings.Contains(toJSON(md[e+"_auth_methods_supported"]), "private_key_jwt") {
			continue
		}
		if algs := toJSON(md[e+"_auth_signing_alg_values_supported"]); algs != `["EdDSA","ES256"]` {
			t.Errorf("metadata %s_auth_signing_alg_values_supported = %s, want [\"EdDSA\",\"ES256\"] (RFC 8414 §2)", e, algs)
		}
	}
	if !strings.Contains(toJSON(md["token_endpoint_auth_methods_supported"]), "private_key_jwt") ||
		!strings.Contains(toJSON(md["dpop_signing_alg_values_supported"]), "EdDSA") {
		t.Errorf("metadata: %v", md)
	}
	// The JWK Set holds the DID document's keys, with the DID URLs as kid,
	// and after a rotation both keys.
	if _, err := ts.admin.RotateKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	getJSON(t, ts.url+"/.well-known/jwks.json", &set)
	doc, err := ts.app.Issuer.DIDDocument(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || len(doc.VerificationMethod) != 2 {
		t.Fatalf("jwks has %d keys, DID document %d; want 2", len(set.Keys), len(doc.VerificationMethod))
	}
	for i, m := range doc.VerificationMethod {
		pub, _ := m.PublicKeyJwk.PublicKey()
		k := set.Keys[i]
		if k.KeyID != m.ID || !k.IsPublic() || k.Use != "sig" {
			t.Errorf("jwks key %d: kid %s use %s, want %s", i, k.KeyID, k.Use, m.ID)
		}
		if !pub.(ed25519.PublicKey).Equal(k.Key) {
			t.Errorf("jwks key %d differs from the DID document's", i)
		}
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func getJSON(t testing.TB, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestOAuthToken gets a token through the client and checks it with
// go-jose against the JWK Set, as a third-party resource server would.
func TestOAuthToken(t *testing.T) {
	ts := start(t, t.TempDir())
	k, iss := ts.oauthAgent(t)
	before := time.Now()
	tok, err := client.New(ts.url, nil).Token(context.Background(), k, client.TokenOptions{Scopes: []string{"calendar:read"}, Resources: []string{calendar}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type != "DPoP" || tok.Scope != "calendar:read" || tok.DPoPKey == nil {
		t.Fatalf("token: %+v", tok)
	}
	var set jose.JSONWebKeySet
	getJSON(t, ts.url+"/.well-known/jwks.json", &set)
	jt, err := josejwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jt.Headers[0]
	if h.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("typ %v, want at+jwt", h.ExtraHeaders["typ"])
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %s not in the JWK Set", h.KeyID)
	}
	var std josejwt.Claims
	var at oauth.AccessToken
	if err := jt.Claims(keys[0].Key, &std, &at); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: ts.url, Subject: k.DID, AnyAudience: josejwt.Audience{calendar}, Time: time.Now()}, 0); err != nil {
		t.Fatalf("go-jose validation: %v", err)
	}
	jkt, _ := oauth.Thumbprint(k.PrivateKey().Public())
	life := time.Unix(at.Expiry, 0).Sub(time.Unix(at.IssuedAt, 0))
	if at.ClientID != k.DID || at.Confirmation == nil || at.Confirmation.JKT != jkt || at.CredentialID != iss.ID ||
		len(at.CredentialStatus) != 2 || at.Scope != "calendar:read" || life > 5*time.Minute || life < 4*time.Minute || at.JTI == "" {
		t.Fatalf("claims: %+v (life %v)", at, life)
	}
	if time.Unix(at.IssuedAt, 0).Before(before.Add(-time.Second)) {
		t.Fatalf("iat %d before the request", at.IssuedAt)
	}
	// The grant is audited, with the agent and its credential.
	ev := lastEvent(t, ts)
	if ev.Action != issuer.ActionOAuthToken || ev.Decision != audit.DecisionAllow || ev.Actor != k.DID || ev.Credential != iss.ID {
		t.Fatalf("audit: %+v", ev)
	}
}

// TestOAuthTokenNeverOutlivesCredential: exp is capped at validUntil.
func TestOAuthTokenNeverOutlivesCredential(t *testing.T) {
	clock := verifiertest.NewClock(time.Now().Truncate(time.Second))
	ts, _ := serveTest(t, "127.0.0.1:0", Config{DataDir: t.TempDir(), Now: clock.Now}, nil)
	k, iss := ts.oauthAgent(t)
	clock.Set(iss.ValidUntil.Add(-90 * time.Second))
	form := ts.tokenFormAt(t, k, clock.Now())
	a := ts.postForm(t, issuer.TokenPath, form, map[string]string{"DPoP": proofAt(t, k.PrivateKey(), ts.tokenURL(), clock.Now())})
	if a.status != http.StatusOK {
		t.Fatalf("token: %d %+v", a.status, a.err)
	}
	_, at, _ := oauth.ParseAccessToken(a.ok.AccessToken)
	if at.Expiry != iss.ValidUntil.Unix() || a.ok.ExpiresIn != 90 {
		t.Fatalf("exp %d expires_in %d, want %d and 90", at.Expiry, a.ok.ExpiresIn, iss.ValidUntil.Unix())
	}
	// Once the credential expired, no token.
	clock.Set(iss.ValidUntil.Add(time.Second))
	a = ts.postForm(t, issuer.TokenPath, ts.tokenFormAt(t, k, clock.Now()), map[string]string{"DPoP": proofAt(t, k.PrivateKey(), ts.tokenURL(), clock.Now())})
	if a.status != http.StatusBadRequest || a.err.Error != oauth.InvalidGrant || !strings.HasPrefix(a.err.ErrorDescription, "expired") {
		t.Fatalf("expired credential: %d %+v", a.status, a.err)
	}
}

func proofAt(t testing.TB, key crypto.Signer, u string, now time.Time) string {
	p, err := oauth.NewProof(key, oauth.ProofOptions{Method: http.MethodPost, URL: u, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOAuthTokenRefusals: every bad input of issue 14 at the token
// endpoint, each with its exact OAuth error.
func TestOAuthTokenRefusals(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	k, _ := ts.oauthAgent(t)
	other := newKey(t)
	dk := k.PrivateKey()
	priv := dk.(ed25519.PrivateKey)
	good := func() (url.Values, map[string]string) {
		return ts.tokenForm(t, k), map[string]string{"DPoP": proof(t, dk, http.MethodPost, ts.tokenURL(), "")}
	}
	now := time.Now()
	claims := map[string]any{"iss": k.DID, "sub": k.DID, "aud": ts.tokenURL(), "jti": "j-" + randomHex(), "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()}
	withAssertion := func(a string) func(url.Values, map[string]string) {
		return func(f url.Values, _ map[string]string) { f.Set("client_assertion", a) }
	}
	// HS256 keyed with the agent's public key, the classic confusion.
	hsIn := b64u.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64u.EncodeToString([]byte(toJSON(claims)))
	mac := hmac.New(sha256.New, priv.Public().(ed25519.PublicKey))
	mac.Write([]byte(hsIn))
	hs256 := hsIn + "." + b64u.EncodeToString(mac.Sum(nil))
	none := b64u.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64u.EncodeToString([]byte(toJSON(claims))) + "."
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	signedByOther := signJWT(otherPriv, map[string]any{"alg": "EdDSA", "typ": "JWT"}, claims)
	longClaims := maps(claims, map[string]any{"exp": now.Add(time.Hour).Unix()})
	dpopPriv := map[string]any{"typ": "dpop+jwt", "alg": "EdDSA", "jwk": map[string]any{"kty": "OKP", "crv": "Ed25519",
		"x": b64u.EncodeToString(priv.Public().(ed25519.PublicKey)), "d": b64u.EncodeToString(priv.Seed())}}
	replayedDPoP := proof(t, dk, http.MethodPost, ts.tokenURL(), "")
	if a := ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": replayedDPoP}); a.status != http.StatusOK {
		t.Fatalf("first use: %d %+v", a.status, a.err)
	}
	usedForm := ts.tokenForm(t, k)
	if a := ts.postForm(t, issuer.TokenPath, usedForm, map[string]string{"DPoP": proof(t, dk, http.MethodPost, ts.tokenURL(), "")}); a.status != http.StatusOK {
		t.Fatalf("first use: %d %+v", a.status, a.err)
	}

	cases := []struct {
		name   string
		edit   func(url.Values, map[string]string)
		status int
		code   oauth.ErrorCode
		reason string
	}{
		{"assertion signed by another key", withAssertion(signedByOther), 401, oauth.InvalidClient, "bad_signature"},
		{"assertion replayed", func(f url.Values, _ map[string]string) { f.Set("client_assertion", usedForm.Get("client_assertion")) }, 401, oauth.InvalidClient, "replayed"},
		{"alg none", withAssertion(none), 401, oauth.InvalidClient, "malformed"},
		{"HS256 with the public key as secret", withAssertion(hs256), 401, oauth.InvalidClient, "unsupported_alg"},
		{"assertion for another audience", withAssertion(signJWT(priv, map[string]any{"alg": "EdDSA"}, maps(claims, map[string]any{"aud": "https://other.example.com"}))), 401, oauth.InvalidClient, "wrong_audience"},
		{"assertion lives an hour", withAssertion(signJWT(priv, map[string]any{"alg": "EdDSA"}, longClaims)), 401, oauth.InvalidClient, "malformed"},
		{"assertion of another client_id", func(f url.Values, _ map[string]string) { f.Set("client_id", other.DID) }, 401, oauth.InvalidClient, "holder_mismatch"},
		{"unregistered agent", func(f url.Values, h map[string]string) {
			f.Set("client_id", other.DID)
			a, _ := other.ClientAssertion(ts.tokenURL())
			f.Set("client_assertion", a)
		}, 401, oauth.InvalidClient, "unknown_key"},
		{"no assertion", func(f url.Values, _ map[string]string) { f.Del("client_assertion") }, 401, oauth.InvalidClient, "malformed"},
		{"scope beyond the credential", func(f url.Values, _ map[string]string) { f.Set("scope", "calendar:read calendar:admin") }, 400, oauth.InvalidScope, "insufficient_scope"},
		{"resource beyond the credential", func(f url.Values, _ map[string]string) { f.Set("resource", "https://payroll.example.com") }, 400, oauth.InvalidTarget, "wrong_audience"},
		// RFC 8707 §2: a resource "MUST NOT include a fragment component".
		{"resource with a fragment", func(f url.Values, _ map[string]string) { f.Set("resource", calendar+"#events") }, 400, oauth.InvalidTarget, "malformed"},
		{"DPoP proof missing", func(_ url.Values, h map[string]string) { delete(h, "DPoP") }, 400, oauth.InvalidDPoPProof, "malformed"},
		{"DPoP proof replayed", func(_ url.Values, h map[string]string) { h["DPoP"] = replayedDPoP }, 400, oauth.InvalidDPoPProof, "replayed"},
		{"DPoP proof for another method", func(_ url.Values, h map[string]string) { h["DPoP"] = proof(t, dk, http.MethodGet, ts.tokenURL(), "") }, 400, oauth.InvalidDPoPProof, "request_mismatch"},
		{"DPoP proof for another URL", func(_ url.Values, h map[string]string) {
			h["DPoP"] = proof(t, dk, http.MethodPost, ts.url+"/oauth/other", "")
		}, 400, oauth.InvalidDPoPProof, "request_mismatch"},
		{"DPoP proof with an ath", func(_ url.Values, h map[string]string) {
			h["DPoP"] = proof(t, dk, http.MethodPost, ts.tokenURL(), "some-token")
		}, 400, oauth.InvalidDPoPProof, "request_mismatch"},
		{"DPoP proof with a private key in its header", func(_ url.Values, h map[string]string) {
			h["DPoP"] = signJWT(priv, dpopPriv, map[string]any{"jti": randomHex(), "htm": "POST", "htu": ts.tokenURL(), "iat": time.Now().Unix()})
		}, 400, oauth.InvalidDPoPProof, "malformed"},
		{"unknown grant type", func(f url.Values, _ map[string]string) { f.Set("grant_type", "password") }, 400, oauth.UnsupportedGrantType, ""},
		{"no grant type", func(f url.Values, _ map[string]string) { f.Del("grant_type") }, 400, oauth.InvalidRequest, ""},
		{"repeated parameter", func(f url.Values, _ map[string]string) { f.Add("scope", "calendar:write") }, 400, oauth.InvalidRequest, ""},
		// RFC 6749 §2.3: one client authentication method per request;
		// §5.2: more than one is invalid_request.
		{"Basic authentication beside the assertion", func(_ url.Values, h map[string]string) {
			h["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(k.DID+":secret"))
		}, 400, oauth.InvalidRequest, ""},
		{"client_secret beside the assertion", func(f url.Values, _ map[string]string) { f.Set("client_secret", "secret") }, 400, oauth.InvalidRequest, ""},
		{"oversized body", func(f url.Values, _ map[string]string) { f.Set("pad", strings.Repeat("x", MaxBodyBytes)) }, 413, oauth.InvalidRequest, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, h := good()
			tc.edit(f, h)
			a := ts.postForm(t, issuer.TokenPath, f, h)
			if a.status != tc.status || a.err.Error != tc.code || !strings.HasPrefix(a.err.ErrorDescription, tc.reason) {
				t.Fatalf("got %d %+v, want %d %s (%s)", a.status, a.err, tc.status, tc.code, tc.reason)
			}
		})
	}

	// The credential's state: suspended, revoked, retired.
	for _, step := range []struct {
		name   string
		do     func(k *client.Key, id string) error
		reason string
	}{
		{"suspended", func(_ *client.Key, id string) error { _, err := ts.admin.Suspend(ctx, id); return err }, "suspended"},
		{"revoked", func(_ *client.Key, id string) error { _, err := ts.admin.Revoke(ctx, id); return err }, "revoked"},
		{"retired", func(k *client.Key, _ string) error { _, err := ts.admin.Retire(ctx, k.DID); return err }, "agent_retired"},
	} {
		t.Run("credential "+step.name, func(t *testing.T) {
			k, iss := ts.oauthAgent(t)
			if err := step.do(k, iss.ID); err != nil {
				t.Fatal(err)
			}
			a := ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": proof(t, k.PrivateKey(), http.MethodPost, ts.tokenURL(), "")})
			if a.status != 400 || a.err.Error != oauth.InvalidGrant || !strings.HasPrefix(a.err.ErrorDescription, step.reason) {
				t.Fatalf("got %d %+v, want invalid_grant (%s)", a.status, a.err, step.reason)
			}
			// Audited as a denial naming the agent.
			ev := lastEvent(t, ts)
			if ev.Action != issuer.ActionOAuthToken || ev.Decision != audit.DecisionDeny || ev.Actor != k.DID || ev.Reason != string(oauth.InvalidGrant) {
				t.Fatalf("audit: %+v", ev)
			}
		})
	}
}

// TestOAuthTokenEmptyParameters: RFC 6749 §3.1, "Parameters sent without
// a value MUST be treated as if they were omitted from the request": an
// empty scope asks for the credential's scopes, an empty resource for its
// only audience, as when they are absent.
func TestOAuthTokenEmptyParameters(t *testing.T) {
	ts := start(t, t.TempDir())
	k, _ := ts.oauthAgent(t)
	for _, tc := range []struct {
		name, param, scope string
	}{
		{"empty scope", "scope", "calendar:read calendar:write"},
		{"empty resource", "resource", "calendar:read"},
		{"empty client_id", "client_id", "calendar:read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ts.tokenForm(t, k)
			f.Set(tc.param, "")
			a := ts.postForm(t, issuer.TokenPath, f, map[string]string{"DPoP": proof(t, k.PrivateKey(), http.MethodPost, ts.tokenURL(), "")})
			if a.status != http.StatusOK || a.ok.Scope != tc.scope {
				t.Fatalf("got %d %+v %+v, want 200 with scope %q", a.status, a.err, a.ok, tc.scope)
			}
			_, at, err := oauth.ParseAccessToken(a.ok.AccessToken)
			if err != nil || len(at.Audience) != 1 || at.Audience[0] != calendar {
				t.Fatalf("aud %v (%v), want [%s]", at.Audience, err, calendar)
			}
		})
	}
}

func maps(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return b64u.EncodeToString(b[:])
}

// TestOAuthTokenStockMCPHost: the assertion the MCP TypeScript SDK's
// PrivateKeyJwtProvider sends: no kid, no client_id parameter, aud = the
// issuer identifier.
func TestOAuthTokenStockMCPHost(t *testing.T) {
	ts := start(t, t.TempDir())
	k, _ := ts.oauthAgent(t)
	priv := k.PrivateKey().(ed25519.PrivateKey)
	now := time.Now()
	a := signJWT(priv, map[string]any{"alg": "EdDSA"}, map[string]any{"iss": k.DID, "sub": k.DID, "aud": ts.url,
		"jti": randomHex(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	f := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.ClientAssertionType},
		"client_assertion": {a}, "resource": {calendar}}
	ans := ts.postForm(t, issuer.TokenPath, f, map[string]string{"DPoP": proof(t, priv, http.MethodPost, ts.tokenURL(), "")})
	if ans.status != http.StatusOK || ans.ok.TokenType != "DPoP" || ans.ok.Scope != "calendar:read calendar:write" {
		t.Fatalf("got %d %+v %+v", ans.status, ans.ok, ans.err)
	}
}

// dpopTransport adds a DPoP proof to every request, so that
// golang.org/x/oauth2 (which knows no DPoP) can drive the token endpoint.
type dpopTransport struct{ key crypto.Signer }

func (d dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p, err := oauth.NewProof(d.key, oauth.ProofOptions{Method: r.Method, URL: r.URL.String()})
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("DPoP", p)
	return http.DefaultTransport.RoundTrip(r)
}

// TestOAuthInteropXOAuth2 drives the token endpoint with
// golang.org/x/oauth2/clientcredentials: private_key_jwt as endpoint
// parameters, DPoP from the transport.
func TestOAuthInteropXOAuth2(t *testing.T) {
	ts := start(t, t.TempDir())
	k, _ := ts.oauthAgent(t)
	newConfig := func() *clientcredentials.Config {
		a, err := k.ClientAssertion(ts.tokenURL())
		if err != nil {
			t.Fatal(err)
		}
		return &clientcredentials.Config{ClientID: k.DID, TokenURL: ts.tokenURL(), Scopes: []string{"calendar:read"},
			AuthStyle: oauth2.AuthStyleInParams,
			EndpointParams: url.Values{"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {a},
				"resource": {calendar}}}
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: dpopTransport{k.PrivateKey()}})
	tok, err := newConfig().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" || tok.AccessToken == "" || time.Until(tok.Expiry) > 5*time.Minute {
		t.Fatalf("token: %+v", tok)
	}
	// Without DPoP the library gets the exact refusal.
	_, err = newConfig().Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != string(oauth.InvalidDPoPProof) {
		t.Fatalf("without DPoP: %v", err)
	}
}

// TestOAuthDPoPNonce: with server nonces required, a proof without one is
// refused with use_dpop_nonce and a DPoP-Nonce header, and the client's
// retry with it succeeds.
func TestOAuthDPoPNonce(t *testing.T) {
	ts, _ := serveTest(t, "127.0.0.1:0", Config{DataDir: t.TempDir(), OAuthDPoPNonce: true}, nil)
	k, _ := ts.oauthAgent(t)
	a := ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": proof(t, k.PrivateKey(), http.MethodPost, ts.tokenURL(), "")})
	if a.status != 400 || a.err.Error != oauth.UseDPoPNonce || a.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("got %d %+v nonce %q", a.status, a.err, a.header.Get("DPoP-Nonce"))
	}
	tok, err := client.New(ts.url, nil).Token(context.Background(), k, client.TokenOptions{Resources: []string{calendar}})
	if err != nil || tok.Type != "DPoP" {
		t.Fatalf("with the nonce: %v", err)
	}
}

// TestOAuthBearerResource: a resource configured for bearer tokens gets
// one, short-lived and audience-bound, without DPoP; others still need it.
func TestOAuthBearerResource(t *testing.T) {
	ts, _ := serveTest(t, "127.0.0.1:0", Config{DataDir: t.TempDir(), OAuthBearerResources: []string{calendar}}, nil)
	k, _ := ts.oauthAgent(t)
	tok, err := client.New(ts.url, nil).Token(context.Background(), k, client.TokenOptions{Resources: []string{calendar}, Bearer: true})
	if err != nil {
		t.Fatal(err)
	}
	_, at, _ := oauth.ParseAccessToken(tok.AccessToken)
	if tok.Type != "Bearer" || at.Confirmation != nil || at.Expiry-at.IssuedAt > 60 || !slices.Equal(at.Audience, []string{calendar}) {
		t.Fatalf("bearer token: %+v %+v", tok, at)
	}
}

var _ = did.Thumbprint
var _ = vc.Audience{}

// TestOAuthInvalidClientChallenge: an invalid_client answer is a 401 whose
// WWW-Authenticate matches the scheme of the client's Authorization header
// (RFC 6749 §5.2; Basic with its realm, RFC 7617 §2), Bearer without one.
func TestOAuthInvalidClientChallenge(t *testing.T) {
	ts := start(t, t.TempDir())
	k, _ := ts.oauthAgent(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(k.DID+":secret"))
	for _, tc := range []struct {
		name, authorization, want string
	}{
		{"no Authorization header", "", `Bearer error="invalid_client"`},
		{"Basic", basic, `Basic realm="agentid", error="invalid_client"`},
		{"basic, lower case", strings.ToLower(basic[:5]) + basic[5:], `Basic realm="agentid", error="invalid_client"`},
		{"another scheme", "Digest username=x", `Digest error="invalid_client"`},
		{"not a scheme", `"x y`, `Bearer error="invalid_client"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{"grant_type": {oauth.GrantClientCredentials}, "client_id": {k.DID}}
			hdr := map[string]string{}
			if tc.authorization != "" {
				hdr["Authorization"] = tc.authorization
			}
			a := ts.postForm(t, issuer.TokenPath, f, hdr)
			if a.status != http.StatusUnauthorized || a.err.Error != oauth.InvalidClient {
				t.Fatalf("got %d %+v, want 401 invalid_client", a.status, a.err)
			}
			if got := a.header.Get("WWW-Authenticate"); got != tc.want {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.want)
			}
		})
	}
}
