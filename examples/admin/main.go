// Command admin shows revocation end to end against a running
// `agentid serve`: it issues a credential for a fresh agent, has the
// verifier service (POST /v1/verify) accept a presentation of it, revokes
// the credential (POST /v1/credentials/{id}/revoke), has a fresh
// presentation refused with reason code "revoked", and prints the agent's
// inventory entry (GET /v1/agents/{did}).
//
//	go run ./examples/admin
//
// --key must be an admin's private JWK file (by default the first admin key
// that `agentid serve` wrote to data/admin.jwk); an orchestrator's key works
// too, since it may revoke the agents it created.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/reason"
)

type options struct {
	server, key, audience, path, scopes string
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", envOr("AGENTID_SERVER", "http://localhost:8080"), "agentid server URL ($AGENTID_SERVER)")
	flag.StringVar(&o.key, "key", envOr("AGENTID_KEY", "data/admin.jwk"), "an admin's private JWK file ($AGENTID_KEY)")
	flag.StringVar(&o.audience, "audience", "http://localhost:9090", "the resource API the credential is for")
	flag.StringVar(&o.path, "path", "/v1/events", "request path the presentations are bound to (GET)")
	flag.StringVar(&o.scopes, "scopes", "calendar:read", "scopes to grant and to require (comma separated)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "admin: bad usage: no arguments expected")
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "admin: error: %v\n", err)
		var ue *url.Error
		var p *client.Error
		switch {
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintln(os.Stderr, "admin: hint: pass --key FILE: the first admin key is DATA/admin.jwk, written by 'agentid serve'")
		case errors.As(err, &ue):
			fmt.Fprintf(os.Stderr, "admin: hint: is 'agentid serve' running at %s?\n", o.server)
		case errors.As(err, &p) && (p.Code == api.CodeUnknownPrincipal || p.Code == api.CodeForbidden):
			fmt.Fprintln(os.Stderr, "admin: hint: --key must be a registered admin's key")
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	admin, err := client.LoadKey(o.key)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	cl := client.New(o.server, admin)
	scopes := split(o.scopes)
	reqURL := strings.TrimSuffix(o.audience, "/") + o.path
	fmt.Printf("admin  %s\n", admin.DID)

	// A fresh agent and its credential.
	agent, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		return err
	}
	proof, err := cl.Proof(ctx, agent)
	if err != nil {
		return fmt.Errorf("proof of control: %w", err)
	}
	iss, err := cl.Issue(ctx, api.IssueRequest{
		Agent: agent.DID, Proof: proof, Scopes: scopes, Audiences: []string{o.audience},
		Owner: "example-team", Purpose: "revocation demo",
	})
	if err != nil {
		return fmt.Errorf("POST /v1/agents: %w", err)
	}
	fmt.Printf("1. issued %s to %s, valid until %s\n", iss.ID, agent.DID, iss.ValidUntil.UTC().Format(time.RFC3339))

	// A presentation the verifier service accepts.
	res, err := verify(ctx, cl, agent, iss.Credential, o.audience, reqURL, scopes)
	if err != nil {
		return err
	}
	if !res.Valid {
		return fmt.Errorf("the fresh credential was refused: %s", describe(res))
	}
	fmt.Printf("2. POST /v1/verify: %s\n", describe(res))

	// Revoke it.
	cr, err := cl.Revoke(ctx, iss.ID)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	fmt.Printf("3. revoked %s (revoked=%v, status list index %s of %s)\n", cr.ID, cr.Revoked,
		cr.Revocation.StatusListIndex, cr.Revocation.StatusListCredential)

	// A fresh presentation of the same credential is refused.
	res, err = verify(ctx, cl, agent, iss.Credential, o.audience, reqURL, scopes)
	if err != nil {
		return err
	}
	fmt.Printf("4. POST /v1/verify: %s\n", describe(res))
	if res.Valid || res.Error == nil || res.Error.Code != string(reason.Revoked) {
		return fmt.Errorf("expected the revoked credential to be refused with code revoked, got %s", describe(res))
	}

	// The inventory entry.
	a, err := cl.Agent(ctx, agent.DID)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	b, err := json.MarshalIndent(a, "   ", "  ")
	if err != nil {
		return err
	}
	fmt.Printf("5. GET /v1/agents/{did}:\n   %s\n", b)
	if a.Status != api.StatusRevoked {
		return fmt.Errorf("expected inventory status %q, got %q", api.StatusRevoked, a.Status)
	}
	fmt.Println("ok")
	return nil
}

// verify signs a fresh presentation bound to GET reqURL and asks the
// verifier service about it.
func verify(ctx context.Context, cl *client.Client, agent *client.Key, cred, aud, reqURL string, scopes []string) (*api.VerifyResponse, error) {
	vp, err := agent.Present(client.PresentOptions{Credential: cred, Audience: aud, Method: http.MethodGet, URL: reqURL})
	if err != nil {
		return nil, err
	}
	// The verifier service is public: Verify sends no principal presentation.
	res, err := cl.Verify(ctx, api.VerifyRequest{
		Presentation: vp, Audience: aud, Method: http.MethodGet, URL: reqURL, Scopes: scopes,
	})
	if err != nil {
		return nil, fmt.Errorf("POST /v1/verify: %w", err)
	}
	return res, nil
}

func describe(r *api.VerifyResponse) string {
	if r.Valid {
		exp := ""
		if r.ExpiresAt != nil {
			exp = r.ExpiresAt.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("valid (agent %s, scopes %s, credential %s, expires %s)", r.Agent, strings.Join(r.Scopes, ","), r.CredentialID, exp)
	}
	if r.Error == nil {
		return "invalid (no reason given)"
	}
	s := "refused: " + r.Error.Code
	if r.Error.Detail != "" {
		s += " (" + r.Error.Detail + ")"
	}
	return s
}

func split(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
