package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/reason"
)

// startServer serves a fresh data directory on a loopback port, as
// `agentid serve` does, and returns its URL and the first admin's key.
func startServer(t *testing.T) (string, *client.Key) {
	t.Helper()
	t.Setenv("AGENTID_MASTER_KEY", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	dir := filepath.Join(t.TempDir(), "data")
	app, err := server.Open(context.Background(), server.Config{DataDir: dir, IssuerURL: url, AllowHTTPLocalhost: true})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	s, err := server.NewServer(app, server.ServerOptions{})
	if err != nil {
		ln.Close()
		app.Close()
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler()}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		app.Close()
	})
	admin, err := client.LoadKey(filepath.Join(dir, server.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return url, admin
}

func code(err error) string {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestClient runs every typed call against a real server.
func TestClient(t *testing.T) {
	ctx := context.Background()
	url, adminKey := startServer(t)
	admin := client.New(url, adminKey)
	const aud = "https://calendar.example.com"

	// An orchestrator, registered by the admin.
	orchKey, err := client.GenerateKey(client.P256)
	if err != nil {
		t.Fatal(err)
	}
	p, err := admin.AddPrincipal(ctx, api.Principal{DID: orchKey.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.DID != orchKey.DID || p.CreatedBy != adminKey.DID || p.CreatedAt.IsZero() {
		t.Errorf("AddPrincipal = %+v", p)
	}
	orch := client.New(url, orchKey)

	// It registers an agent; beyond its ceiling it is refused.
	agent, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := orch.Proof(ctx, agent)
	if err != nil {
		t.Fatal(err)
	}
	req := api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"mail:send"}, Audiences: []string{aud}, Owner: "o", Purpose: "p"}
	if _, err := orch.Issue(ctx, req); code(err) != api.CodeScopeExceedsCeiling {
		t.Fatalf("Issue beyond the ceiling: %v, want %s", err, api.CodeScopeExceedsCeiling)
	}
	if req.Proof, err = orch.Proof(ctx, agent); err != nil {
		t.Fatal(err)
	}
	req.Scopes = []string{"calendar:read"}
	iss, err := orch.Issue(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if iss.Agent == nil || iss.Agent.DID != agent.DID || iss.Agent.Status != api.StatusActive || iss.Agent.CreatedBy != orchKey.DID {
		t.Fatalf("Issue = %+v", iss)
	}

	// The verifier service accepts a presentation of the credential.
	verify := func() *api.VerifyResponse {
		t.Helper()
		vp, err := agent.Present(client.PresentOptions{Credential: iss.Credential, Audience: aud, Method: "GET", URL: aud + "/v1/events"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.New(url, nil).Verify(ctx, api.VerifyRequest{Presentation: vp, Audience: aud, Method: "GET", URL: aud + "/v1/events", Scopes: []string{"calendar:read"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := verify(); !res.Valid || res.Agent != agent.DID || res.CredentialID != iss.ID || res.ExpiresAt == nil {
		t.Fatalf("Verify = %+v, want valid", res)
	}

	// The agent refreshes its own credential.
	next, err := client.New(url, nil).Refresh(ctx, agent, iss.Credential)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == iss.ID || next.Credential == "" {
		t.Fatalf("Refresh = %+v", next)
	}
	iss = next

	// Inventory.
	if as, err := orch.Agents(ctx, client.AgentFilter{Status: api.StatusActive}); err != nil || len(as) != 1 || as[0].DID != agent.DID {
		t.Fatalf("Agents(active) = %+v, %v", as, err)
	}
	if as, err := admin.Agents(ctx, client.AgentFilter{Status: api.StatusRevoked}); err != nil || len(as) != 0 {
		t.Fatalf("Agents(revoked) = %+v, %v", as, err)
	}
	if _, err := admin.Agents(ctx, client.AgentFilter{Dormant: "forever"}); code(err) != api.CodeInvalidRequest {
		t.Fatalf("Agents(dormant forever): %v", err)
	}
	if a, err := admin.Agent(ctx, agent.DID); err != nil || a.CurrentCredential != iss.ID {
		t.Fatalf("Agent = %+v, %v", a, err)
	}

	// Suspend, reinstate, revoke; a revocation cannot be undone.
	for _, step := range []struct {
		call               func(context.Context, string) (*api.Credential, error)
		revoked, suspended bool
		valid              bool
	}{
		{orch.Suspend, false, true, false},
		{orch.Reinstate, false, false, true},
		{orch.Revoke, true, false, false},
	} {
		cr, err := step.call(ctx, iss.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cr.ID != iss.ID || cr.Revoked != step.revoked || cr.Suspended != step.suspended || cr.Revocation.StatusListCredential == "" {
			t.Fatalf("status change = %+v", cr)
		}
		if res := verify(); res.Valid != step.valid {
			t.Fatalf("Verify after the change = %+v", res)
		}
	}
	if res := verify(); res.Error == nil || res.Error.Code != string(reason.Revoked) {
		t.Fatalf("Verify after revocation = %+v", res)
	}
	_, err = orch.Reinstate(ctx, iss.ID)
	var e *client.Error
	if !errors.As(err, &e) || e.Code != api.CodeIrreversible || e.StatusCode < 400 {
		t.Fatalf("Reinstate after revocation: %v", err)
	}
	if _, err := client.New(url, nil).Refresh(ctx, agent, iss.Credential); !errors.Is(err, reason.Revoked) {
		t.Fatalf("Refresh of a revoked credential: %v, want errors.Is reason.Revoked", err)
	}
	if a, err := admin.Retire(ctx, agent.DID); err != nil || !a.Retired || a.Status != api.StatusRetired {
		t.Fatalf("Retire = %+v, %v", a, err)
	}

	// Principals and keys are for admins.
	if _, err := orch.Principals(ctx); code(err) != api.CodeForbidden {
		t.Fatalf("Principals as an orchestrator: %v", err)
	}
	if ps, err := admin.Principals(ctx); err != nil || len(ps) != 2 {
		t.Fatalf("Principals = %+v, %v", ps, err)
	}
	k, err := admin.RotateKey(ctx)
	if err != nil || !k.Primary {
		t.Fatalf("RotateKey = %+v, %v", k, err)
	}
	if ks, err := admin.Keys(ctx); err != nil || len(ks) != 2 {
		t.Fatalf("Keys = %+v, %v", ks, err)
	}
	if err := admin.RemovePrincipal(ctx, orchKey.DID); err != nil {
		t.Fatal(err)
	}
	if _, err := orch.Agents(ctx, client.AgentFilter{}); code(err) != api.CodeUnknownPrincipal {
		t.Fatalf("a removed principal: %v", err)
	}

	// Audit.
	evs, err := admin.Audit(ctx, client.AuditFilter{Action: audit.ActionVerify, Decision: audit.DecisionDeny, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Reason == "" {
		t.Fatalf("Audit = %+v, %v", evs, err)
	}
	if _, err := admin.Audit(ctx, client.AuditFilter{Since: "garbage"}); code(err) != api.CodeInvalidRequest {
		t.Fatalf("Audit since garbage: %v", err)
	}
	var buf bytes.Buffer
	if err := admin.AuditExport(ctx, client.AuditFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.VerifyLines(&buf); err != nil || rep.Events < 5 {
		t.Fatalf("VerifyLines(export) = %+v, %v", rep, err)
	}
	if err := admin.AuditExport(ctx, client.AuditFilter{Until: "garbage"}, &buf); code(err) != api.CodeInvalidRequest {
		t.Fatalf("AuditExport until garbage: %v", err)
	}
	if s, err := admin.AuditSummary(ctx, "24h"); err != nil || s.Events == 0 {
		t.Fatalf("AuditSummary = %+v, %v", s, err)
	}
	if rep, err := admin.AuditVerify(ctx); err != nil || !rep.OK() || rep.FirstSeq != 1 {
		t.Fatalf("AuditVerify = %+v, %v", rep, err)
	}
}

func TestNoKey(t *testing.T) {
	cl := client.New("http://localhost:1", nil)
	if _, err := cl.Agents(context.Background(), client.AgentFilter{}); err == nil {
		t.Fatal("Agents without a key succeeded")
	}
}

func TestKeyFile(t *testing.T) {
	for _, typ := range []client.KeyType{client.Ed25519, client.P256} {
		t.Run(string(typ), func(t *testing.T) {
			k, err := client.GenerateKey(typ)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "k.jwk")
			if err := k.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
			}
			if err := k.WriteFile(path); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second WriteFile: %v, want fs.ErrExist", err)
			}
			got, err := client.LoadKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.DID != k.DID {
				t.Fatalf("loaded %s, wrote %s", got.DID, k.DID)
			}
		})
	}
	if _, err := client.GenerateKey("rsa"); err == nil {
		t.Error("GenerateKey(rsa) succeeded")
	}
	pub := filepath.Join(t.TempDir(), "pub.jwk")
	os.WriteFile(pub, []byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`), 0o600)
	if _, err := client.LoadKey(pub); err == nil {
		t.Error("LoadKey of a public key succeeded")
	}
}

func TestKeyFileInsecureMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not checked on Windows")
	}
	k, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o700, 0o400} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.jwk")
			if err := k.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := client.LoadKey(path)
			if mode&0o077 == 0 {
				if err != nil {
					t.Fatalf("mode %04o refused: %v", mode, err)
				}
				return
			}
			if !errors.Is(err, client.ErrInsecureKeyFile) {
				t.Fatalf("mode %04o: %v; want ErrInsecureKeyFile", mode, err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600 "+path) {
				t.Fatalf("message does not name the file and the fix: %s", msg)
			}
		})
	}
}

// TestAgentPages: GET /v1/agents answers a page and the cursor of the
// next; EachAgent follows it to the end, each agent once, in DID order.
func TestAgentPages(t *testing.T) {
	ctx := context.Background()
	url, adminKey := startServer(t)
	admin := client.New(url, adminKey)
	var want []string
	for range 7 {
		agent, err := client.GenerateKey(client.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := admin.Proof(ctx, agent)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:read"},
			Audiences: []string{"https://calendar.example.com"}, Owner: "o", Purpose: "p"}); err != nil {
			t.Fatal(err)
		}
		want = append(want, agent.DID)
	}
	slices.Sort(want)

	page, err := admin.AgentPage(ctx, client.AgentFilter{}, "", 3)
	if err != nil || len(page.Agents) != 3 || page.Next != page.Agents[2].DID {
		t.Fatalf("first page of 3: %+v, %v", page, err)
	}
	var got []string
	requests := 0
	err = admin.EachAgent(ctx, client.AgentFilter{PageSize: 3}, func(a *api.Agent) error {
		if len(got)%3 == 0 {
			requests++
		}
		got = append(got, a.DID)
		return nil
	})
	if err != nil || !slices.Equal(got, want) || requests != 3 {
		t.Fatalf("EachAgent by 3: %v in %d pages, %v; want %v in 3", got, requests, err, want)
	}
	last, err := admin.AgentPage(ctx, client.AgentFilter{}, want[4], 3)
	if err != nil || len(last.Agents) != 2 || last.Next != "" {
		t.Fatalf("last page: %+v, %v", last, err)
	}
	if err := admin.Do(ctx, http.MethodGet, "/v1/agents?limit=0", nil, nil); code(err) != api.CodeInvalidRequest {
		t.Fatalf("limit=0: %v; want invalid_request", err)
	}
	if err := admin.Do(ctx, http.MethodGet, "/v1/agents?limit=many", nil, nil); code(err) != api.CodeInvalidRequest {
		t.Fatalf("limit=many: %v; want invalid_request", err)
	}
}
