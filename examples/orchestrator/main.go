// Command orchestrator shows what an orchestrator does for the agents it
// spawns: it generates an agent key in memory (the private key never leaves
// the process), registers the agent and obtains its first credential with
// POST /v1/agents (proof of control by the agent key, request signed by the
// orchestrator's own key), then refreshes the credential before it expires
// with POST /v1/credentials/refresh, presenting the current one.
//
//	go run ./examples/orchestrator --ttl 1m --refreshes 1
//
// The --key file must be a registered principal (an orchestrator or an
// admin); by default it is the first admin key that `agentid serve` wrote to
// data/admin.jwk.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/vc"
)

type options struct {
	server, key, audiences, scopes, owner, purpose string
	ttl, lifetime                                  time.Duration
	refreshes                                      int
	at                                             float64
	full                                           bool
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", envOr("AGENTID_SERVER", "http://localhost:8080"), "agentid issuer URL ($AGENTID_SERVER)")
	flag.StringVar(&o.key, "key", envOr("AGENTID_KEY", "data/admin.jwk"), "the orchestrator's (or an admin's) private JWK file ($AGENTID_KEY)")
	flag.StringVar(&o.scopes, "scopes", "calendar:read", "scopes to grant the agent (comma separated)")
	flag.StringVar(&o.audiences, "audience", "http://localhost:9090", "resource API URL(s) the credential is for (comma separated)")
	flag.StringVar(&o.owner, "owner", "example-team", "owning team or person")
	flag.StringVar(&o.purpose, "purpose", "orchestrator example", "what the agent is for")
	flag.DurationVar(&o.ttl, "ttl", time.Minute, "credential lifetime (the issuer allows 1m at least)")
	flag.DurationVar(&o.lifetime, "lifetime", 0, "registration lifetime: how long the agent may refresh (default: the issuer's, 24h)")
	flag.IntVar(&o.refreshes, "refreshes", 1, "how many times to refresh the credential before exiting")
	flag.Float64Var(&o.at, "refresh-at", 0.8, "refresh when this fraction of the credential's lifetime has passed")
	flag.BoolVar(&o.full, "full", false, "print whole credentials instead of abbreviating them")
	flag.Parse()
	if flag.NArg() > 0 || o.refreshes < 0 || o.at <= 0 || o.at >= 1 {
		fmt.Fprintln(os.Stderr, "orchestrator: bad usage: no arguments; --refreshes >= 0; 0 < --refresh-at < 1")
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "orchestrator: error: %v\n", err)
		if h := hint(err, o); h != "" {
			fmt.Fprintf(os.Stderr, "orchestrator: hint: %s\n", h)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	orch, err := client.LoadKey(o.key)
	if err != nil {
		return fmt.Errorf("orchestrator key: %w", err)
	}
	cl := client.New(o.server, orch)
	fmt.Printf("orchestrator %s\n", orch.DID)

	// 1. The agent's identity: a fresh Ed25519 key, kept in memory.
	agent, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		return err
	}
	fmt.Printf("agent        %s (key generated in memory)\n", agent.DID)

	// 2. Proof of control: the agent signs a fresh issuer nonce.
	proof, err := cl.Proof(ctx, agent)
	if err != nil {
		return fmt.Errorf("proof of control: %w", err)
	}

	// 3. Register the agent and get its first credential.
	req := api.IssueRequest{
		Agent: agent.DID, Proof: proof,
		Scopes: split(o.scopes), Audiences: split(o.audiences),
		TTL: api.Duration(o.ttl), Lifetime: api.Duration(o.lifetime),
		Owner: o.owner, Purpose: o.purpose,
	}
	cur, err := cl.Issue(ctx, req)
	if err != nil {
		return fmt.Errorf("POST /v1/agents: %w", err)
	}
	from, err := show("issued", cur, o.full)
	if err != nil {
		return err
	}
	if cur.Agent != nil {
		fmt.Printf("  scopes %s, audiences %s, registration until %s\n", strings.Join(cur.Agent.Scopes, ","),
			strings.Join(cur.Agent.Audiences, ","), cur.Agent.RegistrationExpires.UTC().Format(time.RFC3339))
	}

	// 4. Refresh before expiry, presenting the current credential.
	for i := 1; i <= o.refreshes; i++ {
		life := cur.ValidUntil.Sub(from)
		when := from.Add(time.Duration(float64(life) * o.at))
		wait := time.Until(when)
		fmt.Printf("refresh %d/%d at %s (%.0f%% of %v), in %v\n", i, o.refreshes,
			when.UTC().Format(time.RFC3339), o.at*100, life, wait.Round(time.Second))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		next, err := cl.Refresh(ctx, agent, cur.Credential)
		if err != nil {
			return fmt.Errorf("POST /v1/credentials/refresh: %w", err)
		}
		if next.ID == cur.ID {
			return fmt.Errorf("refresh returned the same credential id %s", next.ID)
		}
		if from, err = show("refreshed", next, o.full); err != nil {
			return err
		}
		cur = next
	}
	fmt.Println("ok")
	return nil
}

// show prints a credential and returns its validFrom.
func show(what string, is *api.Issued, full bool) (time.Time, error) {
	pc, err := vc.ParseCredential(is.Credential)
	if err != nil {
		return time.Time{}, fmt.Errorf("the issuer returned an unreadable credential: %w", err)
	}
	from := time.Now()
	if pc.Credential.ValidFrom != nil {
		from = *pc.Credential.ValidFrom
	}
	tok := is.Credential
	if !full && len(tok) > 60 {
		tok = tok[:40] + "…" + tok[len(tok)-16:]
	}
	fmt.Printf("%-9s credential %s valid %s .. %s\n", what, is.ID,
		from.UTC().Format(time.RFC3339), is.ValidUntil.UTC().Format(time.RFC3339))
	fmt.Printf("  vc+jwt %s\n", tok)
	return from, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errors.New("interrupted")
	case <-t.C:
		return nil
	}
}

func hint(err error, o options) string {
	var p *client.Error
	var ue *url.Error
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "pass --key FILE: the first admin key is DATA/admin.jwk, written by 'agentid serve'"
	case errors.As(err, &ue):
		return "is 'agentid serve' running at " + o.server + "?"
	case errors.As(err, &p) && p.Code == api.CodeUnknownPrincipal:
		return "this key is not registered; an admin runs 'agentid principal add DID --role orchestrator --scopes calendar:*'"
	}
	return ""
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
