// Command delegation shows sub-agents end to end against a running
// `agentid serve`: an admin registers an agent whose tree may be two levels
// deep; that agent, with its own key and credential, asks for a narrower
// sub-agent, which asks for its own; the verifier service (POST
// /v1/verify) accepts the grandchild and returns its delegation chain; the
// admin revokes the root agent's credential; the grandchild is refused
// with reason code "revoked", the detail naming the root agent.
//
//	go run ./examples/delegation
//
// --key must be an admin's private JWK file (by default the first admin key
// that `agentid serve` wrote to data/admin.jwk).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/reason"
)

func main() {
	server := flag.String("server", envOr("AGENTID_SERVER", "http://localhost:8080"), "agentid server URL ($AGENTID_SERVER)")
	key := flag.String("key", envOr("AGENTID_KEY", "data/admin.jwk"), "an admin's private JWK file ($AGENTID_KEY)")
	audience := flag.String("audience", "http://localhost:9090", "the resource API the credentials are for")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "delegation: bad usage: no arguments expected")
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *server, *key, *audience); err != nil {
		fmt.Fprintf(os.Stderr, "delegation: error: %v\n", err)
		var ue *url.Error
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "delegation: hint: is 'agentid serve' running at %s?\n", *server)
		}
		os.Exit(1)
	}
}

type held struct {
	key  *client.Key
	cred string
	id   string
}

func run(ctx context.Context, server, keyFile, audience string) error {
	adminKey, err := client.LoadKey(keyFile)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	admin := client.New(server, adminKey)

	// 1. The admin registers the root agent; its tree may be 2 deep.
	rootKey, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		return err
	}
	proof, err := admin.Proof(ctx, rootKey)
	if err != nil {
		return err
	}
	iss, err := admin.Issue(ctx, api.IssueRequest{Agent: rootKey.DID, Proof: proof,
		Scopes: []string{"calendar:read", "calendar:write"}, Audiences: []string{audience},
		Owner: "example-team", Purpose: "plan the week", OnBehalfOf: "user:alice@example.com",
		TTL: api.Duration(30 * time.Minute), MaxDepth: 2, Task: "weekly-plan"})
	if err != nil {
		return fmt.Errorf("POST /v1/agents (admin): %w", err)
	}
	root := held{rootKey, iss.Credential, iss.ID}
	fmt.Printf("1. root agent    %s (depth 0, credential %s)\n", root.key.DID, root.id)

	// 2. Each agent asks, as itself, for a narrower sub-agent.
	anon := client.New(server, nil)
	child, err := delegate(ctx, anon, root, audience)
	if err != nil {
		return err
	}
	fmt.Printf("2. sub-agent     %s (depth 1, asked by the root agent)\n", child.key.DID)
	grand, err := delegate(ctx, anon, child, audience)
	if err != nil {
		return err
	}
	fmt.Printf("3. sub-sub-agent %s (depth 2, asked by the sub-agent)\n", grand.key.DID)
	if _, err := delegate(ctx, anon, grand, audience); err != nil {
		var p *client.Error
		if !errors.As(err, &p) {
			return err
		}
		fmt.Printf("4. depth 3 refused: %s: %s\n", p.Code, p.Detail)
	}

	// 3. The verifier service accepts the grandchild and returns its chain.
	res, err := verify(ctx, anon, grand, audience)
	if err != nil {
		return err
	}
	if !res.Valid {
		return fmt.Errorf("the sub-sub-agent was refused: %s %s", res.Error.Code, res.Error.Detail)
	}
	fmt.Printf("5. POST /v1/verify: valid, on behalf of %s, delegated by %s through:\n", res.OnBehalfOf, res.DelegatedBy)
	for i, l := range res.Delegation {
		fmt.Printf("     %d. %s (credential %s)\n", i, l.Holder, l.Credential)
	}

	// 4. Revoking the root agent's credential stops the whole tree.
	if _, err := admin.Revoke(ctx, root.id); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	fmt.Printf("6. revoked the root agent's credential %s\n", root.id)
	res, err = verify(ctx, anon, grand, audience)
	if err != nil {
		return err
	}
	if res.Valid || res.Error.Code != string(reason.Revoked) {
		return fmt.Errorf("expected the sub-sub-agent to be refused as revoked, got %+v", res)
	}
	fmt.Printf("7. POST /v1/verify: %s: %s\n", res.Error.Code, res.Error.Detail)
	a, err := admin.Agent(ctx, grand.key.DID)
	if err != nil {
		return err
	}
	fmt.Printf("8. inventory: %s is %s through %s\n", a.DID, a.Status, a.Ancestor)
	return nil
}

// delegate asks, as parent, for a read-only sub-agent.
func delegate(ctx context.Context, cl *client.Client, parent held, audience string) (held, error) {
	k, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		return held{}, err
	}
	proof, err := cl.ProofFor(ctx, k, parent.key.DID)
	if err != nil {
		return held{}, err
	}
	iss, err := cl.IssueSubAgent(ctx, parent.key, parent.cred, api.IssueRequest{Agent: k.DID, Proof: proof,
		Scopes: []string{"calendar:read"}, Audiences: []string{audience}, Owner: "example-team", Purpose: "read the calendar"})
	if err != nil {
		return held{}, err
	}
	return held{k, iss.Credential, iss.ID}, nil
}

// verify asks the verifier service about a fresh presentation by h.
func verify(ctx context.Context, cl *client.Client, h held, audience string) (*api.VerifyResponse, error) {
	vp, err := h.key.Present(client.PresentOptions{Credential: h.cred, Audience: audience,
		Method: http.MethodGet, URL: audience + "/v1/events"})
	if err != nil {
		return nil, err
	}
	return cl.Verify(ctx, api.VerifyRequest{Presentation: vp, Audience: audience, Method: http.MethodGet,
		URL: audience + "/v1/events", Scopes: []string{"calendar:read"}})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
