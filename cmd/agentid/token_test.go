package main

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/oauth"
)

// TestTokenCommand: `agentid token` gets a DPoP-bound token and prints
// its DPoP key; `agentid verify --dpop` checks it as a resource server
// would, and refuses it once the credential is revoked.
func TestTokenCommand(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	url, _ := startServer(t, data)
	ctx := context.Background()
	admin, err := client.LoadKey(filepath.Join(data, server.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(url, admin)
	agent, _ := client.GenerateKey(client.Ed25519)
	agentFile := filepath.Join(dir, "agent.jwk")
	if err := agent.WriteFile(agentFile); err != nil {
		t.Fatal(err)
	}
	proof, _ := cl.Proof(ctx, agent)
	const api1 = "https://calendar.example.com"
	iss, err := cl.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:read", "calendar:write"},
		Audiences: []string{api1}, Owner: "o", Purpose: "p"})
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := agentid(t, "", "token", "--server", url, "--key", agentFile, "--scope", "calendar:read", "--resource", api1, "--json")
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, errOut)
	}
	var got tokenOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(got.DPoPKey); err != nil || jwk.IsPublic() {
		t.Fatalf("dpop_key: %v", err)
	}
	dk := jwk.Key.(crypto.Signer)
	jkt, _ := oauth.Thumbprint(dk.Public())
	if got.TokenType != "DPoP" || got.Scope != "calendar:read" || got.DPoPJKT != jkt {
		t.Fatalf("token output: %+v", got)
	}
	// Text output: the token, then the key.
	code, out, _ = agentid(t, "", "token", "--server", url, "--key", agentFile, "--resource", api1)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], `{"`) {
		t.Fatalf("text output: exit %d: %q", code, out)
	}

	issuerDID, _ := did.WebDID(url)
	reqURL := api1 + "/v1/events"
	verify := func(withProof bool) (int, api.VerifyResponse) {
		args := []string{"verify", "--issuer", issuerDID, "--aud", api1, "--method", http.MethodGet, "--url", reqURL, "--scopes", "calendar:read"}
		if withProof {
			p, err := oauth.NewProof(dk, oauth.ProofOptions{Method: http.MethodGet, URL: reqURL, AccessToken: got.AccessToken})
			if err != nil {
				t.Fatal(err)
			}
			args = append(args, "--dpop", p)
		}
		code, out, _ := agentid(t, got.AccessToken, args...)
		var res api.VerifyResponse
		_ = json.Unmarshal([]byte(out), &res)
		return code, res
	}
	if code, res := verify(true); code != 0 || !res.Valid || res.Agent != agent.DID || res.CredentialID != iss.ID {
		t.Fatalf("verify: exit %d %+v", code, res)
	}
	if code, res := verify(false); code != 1 || res.Valid || res.Error == nil || res.Error.Code != "malformed" {
		t.Fatalf("verify without a proof: exit %d %+v", code, res)
	}
	if _, err := cl.Revoke(ctx, iss.ID); err != nil {
		t.Fatal(err)
	}
	if code, res := verify(true); code != 1 || res.Error == nil || res.Error.Code != "revoked" {
		t.Fatalf("verify after revocation: exit %d %+v", code, res)
	}
	// A resource server registers as a principal with the resource role.
	rs, _ := client.GenerateKey(client.Ed25519)
	if code, out, _ := agentid(t, "", "principal", "add", rs.DID, "--role", "resource", "--server", url, "--key", filepath.Join(data, server.AdminKeyFile)); code != 0 || !strings.Contains(out, "registered resource "+rs.DID) {
		t.Fatalf("principal add --role resource: exit %d %q", code, out)
	}
	// A refused token request exits 1 with the OAuth error.
	code, _, errOut = agentid(t, "", "token", "--server", url, "--key", agentFile, "--resource", api1)
	if code != 1 || !strings.Contains(errOut, "invalid_grant") {
		t.Fatalf("token of a revoked credential: exit %d: %s", code, errOut)
	}
}
