package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/agentid/agentid/api"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentid/agentid/client"
)

type testServer struct {
	app    *App
	url    string
	admin  *client.Client
	srv    *http.Server
	s      *Server // set by startReplicas
	closed bool
}

// start opens a data directory and serves it on a loopback port, with the
// issuer URL http://localhost:<port> (did:web allows no IP addresses).
func start(t testing.TB, dir string) *testServer { return startWith(t, dir, nil) }

// startWith is start with a logger (nil: discard).
func startWith(t testing.TB, dir string, log *slog.Logger) *testServer {
	return startOn(t, dir, log, "127.0.0.1:0")
}

// startOn is startWith on a given address.
func startOn(t testing.TB, dir string, log *slog.Logger, addr string) *testServer {
	t.Helper()
	ts, _ := serveTest(t, addr, Config{DataDir: dir, Logger: log}, func(u string) {
		if _, err := os.Stat(filepath.Join(dir, DBFile)); err == nil && addr == "127.0.0.1:0" {
			// A restart listens on another port: move the directory to
			// the new URL, as an operator would with init
			// --change-issuer-url.
			if _, err := ChangeIssuerURL(context.Background(), dir, u); err != nil {
				t.Fatal(err)
			}
		}
	})
	return ts
}

// serveTest listens on addr, opens cfg with the issuer URL
// http://localhost:<port> (did:web allows no IP addresses) and plain http
// to localhost, serves it, and returns it with an admin client. before,
// when set, runs with the URL before the directory is opened.
func serveTest(t testing.TB, addr string, cfg Config, before func(url string)) (*testServer, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	u := "http://localhost:" + strings.Split(ln.Addr().String(), ":")[1]
	t.Setenv("AGENTID_MASTER_KEY", "")
	if before != nil {
		before(u)
	}
	cfg.IssuerURL, cfg.AllowHTTPLocalhost = u, true
	app, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(app, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(ln)
	ts := &testServer{app: app, url: u, srv: hs}
	t.Cleanup(ts.close)
	key, err := client.LoadKey(filepath.Join(cfg.DataDir, AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ts.admin = client.New(u, key)
	return ts, s
}

func (ts *testServer) close() {
	if ts.closed {
		return
	}
	ts.closed = true
	ts.srv.Close()
	ts.app.Close()
}

func newKey(t testing.TB) *client.Key {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	key, err := client.KeyFromSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func problemCode(err error) string {
	var p *client.Error
	if errors.As(err, &p) {
		return p.Code
	}
	return ""
}

func (ts *testServer) issue(t testing.TB, cl *client.Client, agent *client.Key, scopes []string) (*api.Issued, error) {
	t.Helper()
	proof, err := cl.Proof(context.Background(), agent)
	if err != nil {
		t.Fatal(err)
	}
	var out api.Issued
	err = cl.Do(context.Background(), http.MethodPost, "/v1/agents", api.IssueRequest{
		Agent: agent.DID, Proof: proof, Scopes: scopes, Audiences: []string{"https://calendar.example.com"},
		Owner: "team-a", Purpose: "test"}, &out)
	return &out, err
}

func (ts *testServer) verify(t testing.TB, agent *client.Key, cred string, scopes ...string) api.VerifyResponse {
	t.Helper()
	vp, err := agent.Present(client.PresentOptions{Credential: cred, Audience: "https://calendar.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var res api.VerifyResponse
	if err := client.New(ts.url, nil).Do(context.Background(), http.MethodPost, "/v1/verify",
		api.VerifyRequest{Presentation: vp, Audience: "https://calendar.example.com", Scopes: scopes}, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestFirstStart(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir)
	if ts.app.AdminDID == "" {
		t.Fatal("no first admin created")
	}
	fi, err := os.Stat(filepath.Join(dir, AdminKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file: %v %v", fi, err)
	}
	fi, err = os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", fi, err)
	}
	ts.close()
	// A second start finds everything and creates no new admin.
	ts2 := start(t, dir)
	if ts2.app.AdminDID != "" {
		t.Fatal("second start created another admin")
	}
}

func TestDIDDocumentAndPublicFiles(t *testing.T) {
	ts := start(t, t.TempDir())
	for _, c := range []struct{ path, ctype, want string }{
		{"/.well-known/did.json", "application/did+json", ts.app.Issuer.DID()},
		{"/contexts/agentid-v1.jsonld", "application/ld+json", "AgentCredential"},
		{"/schemas/agent-credential-v1.schema.json", "application/schema+json", "AgentCredential"},
		{"/healthz", "application/json", "ok"},
		{"/readyz", "application/json", "ready"},
	} {
		resp, err := http.Get(ts.url + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) || !bytes.Contains(b, []byte(c.want)) {
			t.Errorf("%s: %d %s %.200s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	resp, _ := http.Get(ts.url + "/nope")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown route: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp.Body.Close()
}

func TestIssueVerifyRevokeOverHTTP(t *testing.T) {
	ts := start(t, t.TempDir())
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Agent == nil || out.Agent.DID != agent.DID || out.ID == "" || out.Credential == "" {
		t.Fatalf("issued: %+v", out)
	}
	if res := ts.verify(t, agent, out.Credential, "calendar:read"); !res.Valid || res.Agent != agent.DID {
		t.Fatalf("verify: %+v", res)
	}
	if res := ts.verify(t, agent, out.Credential, "calendar:write"); res.Valid || res.Error.Code != "insufficient_scope" {
		t.Fatalf("verify beyond grant: %+v", res)
	}
	var cr api.Credential
	if err := ts.admin.Do(context.Background(), http.MethodPost, "/v1/credentials/"+out.ID+"/revoke", nil, &cr); err != nil || !cr.Revoked {
		t.Fatalf("revoke: %v %+v", err, cr)
	}
	if res := ts.verify(t, agent, out.Credential, "calendar:read"); res.Valid || res.Error.Code != "revoked" {
		t.Fatalf("verify after revoke: %+v", res)
	}
	// The published status list shows it too, with caching headers.
	resp, err := http.Get(ts.url + "/status/revocation/0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("status list: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.url+"/status/revocation/0", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp2.StatusCode)
	}
	// Metrics count the decisions by reason.
	mresp, _ := http.Get(ts.url + "/metrics")
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`agentid_verifications_total{reason="revoked",result="invalid"} 1`, `agentid_verifications_total{reason="",result="valid"} 1`, `agentid_issuer_operations_total{operation="issue",result="allow"} 1`} {
		if !bytes.Contains(mb, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRefreshOverHTTP(t *testing.T) {
	ts := start(t, t.TempDir())
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := ts.admin.Refresh(context.Background(), agent, out.Credential)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == out.ID || next.Agent.CurrentCredential != next.ID {
		t.Fatalf("refresh: %+v", next)
	}
	// Another key cannot refresh the agent's credential.
	if _, err := ts.admin.Refresh(context.Background(), newKey(t), out.Credential); problemCode(err) != "holder_mismatch" {
		t.Fatalf("refresh by another key: %v", err)
	}
}

func TestAPIErrors(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	anon := client.New(ts.url, nil)
	stranger := client.New(ts.url, newKey(t))

	if err := anon.Do(ctx, http.MethodGet, "/v1/agents", nil, nil); problemCode(err) != "malformed" {
		t.Errorf("no Authorization: %v", err)
	}
	if err := stranger.Do(ctx, http.MethodGet, "/v1/agents", nil, nil); problemCode(err) != api.CodeUnknownPrincipal {
		t.Errorf("unknown principal: %v", err)
	}
	// An orchestrator beyond its ceiling.
	orch := newKey(t)
	if err := ts.admin.Do(ctx, http.MethodPost, "/v1/principals", api.Principal{DID: orch.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"}}, nil); err != nil {
		t.Fatal(err)
	}
	oc := client.New(ts.url, orch)
	if _, err := ts.issue(t, oc, newKey(t), []string{"mail:read"}); problemCode(err) != api.CodeScopeExceedsCeiling {
		t.Errorf("beyond ceiling: %v", err)
	}
	if _, err := ts.issue(t, oc, newKey(t), []string{"calendar:read"}); err != nil {
		t.Errorf("within ceiling: %v", err)
	}
	if err := oc.Do(ctx, http.MethodPost, "/v1/principals", api.Principal{DID: newKey(t).DID, Role: api.RoleAdmin}, nil); problemCode(err) != api.CodeForbidden {
		t.Errorf("orchestrator adds admin: %v", err)
	}
	if err := oc.Do(ctx, http.MethodPost, "/v1/keys/rotate", nil, nil); problemCode(err) != api.CodeForbidden {
		t.Errorf("orchestrator rotates: %v", err)
	}
	// Unknown members, oversized and malformed bodies.
	var p *client.Error
	err := ts.admin.Do(ctx, http.MethodPost, "/v1/principals", map[string]any{"did": orch.DID, "rol": "admin"}, nil)
	if !errors.As(err, &p) || p.StatusCode != 400 || p.Code != api.CodeInvalidRequest {
		t.Errorf("unknown member: %v", err)
	}
	err = ts.admin.Do(ctx, http.MethodPost, "/v1/principals", map[string]any{"did": strings.Repeat("x", 70_000)}, nil)
	if !errors.As(err, &p) || p.StatusCode != 413 {
		t.Errorf("oversized: %v", err)
	}
	resp, err := http.Post(ts.url+"/v1/verify", "application/json", strings.NewReader(`{"presentation":`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("malformed verify body: %d", resp.StatusCode)
	}
	var res api.VerifyResponse
	if err := anon.Do(ctx, http.MethodPost, "/v1/verify", api.VerifyRequest{Presentation: "x.y.z", Audience: "https://a"}, &res); err != nil || res.Valid || res.Error.Code != "malformed" {
		t.Errorf("garbage presentation: %v %+v", err, res)
	}
	// Every refusal is in the audit trail.
	var ev struct {
		Events []struct{ Action, Decision, Reason string } `json:"events"`
	}
	if err := ts.admin.Do(ctx, http.MethodGet, "/v1/audit?decision=deny", nil, &ev); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, e := range ev.Events {
		reasons[e.Reason] = true
	}
	for _, want := range []string{api.CodeUnknownPrincipal, api.CodeScopeExceedsCeiling, api.CodeForbidden, "malformed"} {
		if !reasons[want] {
			t.Errorf("audit has no denial with reason %s (has %v)", want, reasons)
		}
	}
	if err := ts.admin.Do(ctx, http.MethodGet, "/v1/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", nil, nil); problemCode(err) != api.CodeInvalidRequest {
		t.Errorf("bad time range: %v", err)
	}
}

func TestKeyRotationOverHTTP(t *testing.T) {
	ts := start(t, t.TempDir())
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	var k api.KeyInfo
	if err := ts.admin.Do(context.Background(), http.MethodPost, "/v1/keys/rotate", nil, &k); err != nil || !k.Primary {
		t.Fatalf("rotate: %v %+v", err, k)
	}
	var doc struct {
		VerificationMethod []struct{ ID string } `json:"verificationMethod"`
		AssertionMethod    []string              `json:"assertionMethod"`
	}
	resp, _ := http.Get(ts.url + "/.well-known/did.json")
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if len(doc.VerificationMethod) != 2 || len(doc.AssertionMethod) != 2 {
		t.Fatalf("DID document after rotation: %+v", doc)
	}
	if res := ts.verify(t, agent, out.Credential); !res.Valid {
		t.Fatalf("credential signed before rotation: %+v", res)
	}
	next, err := ts.issue(t, ts.admin, newKey(t), []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(headerKid(t, next.Credential), k.KID) {
		t.Fatalf("new credential not signed by the new key %s", k.KID)
	}
}

func headerKid(t testing.TB, tok string) string {
	var h struct{ Kid string }
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// No secret reaches a log line: not the first admin's private key, not the
// master key, not a credential or presentation token.
func TestLogsHoldNoSecrets(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	ts := startWith(t, dir, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	ts.verify(t, agent, out.Credential)
	_ = ts.admin.Do(context.Background(), http.MethodGet, "/v1/agents?dormant=bad", nil, nil) // a refusal is logged too

	var jwk struct{ D string }
	b, _ := os.ReadFile(filepath.Join(dir, AdminKeyFile))
	_ = json.Unmarshal(b, &jwk)
	master, _ := os.ReadFile(filepath.Join(dir, MasterKeyFile))
	if jwk.D == "" || len(master) == 0 || logs.Len() == 0 {
		t.Fatal("test setup: nothing to look for")
	}
	for name, secret := range map[string]string{
		"admin private key": jwk.D,
		"master key":        strings.TrimSpace(string(master)),
		"credential":        strings.Split(out.Credential, ".")[2],
	} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}
