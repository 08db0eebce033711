package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/vc"
)

// issuedCred is an issuance a client was told succeeded.
type issuedCred struct {
	agent, id string
	entries   []vc.StatusEntry
}

// indexClaims fails the test when a status entry is handed out twice.
type indexClaims struct {
	t    *testing.T
	used map[string]string // list#index -> credential
}

func (c *indexClaims) claim(ic issuedCred) {
	c.t.Helper()
	for _, e := range ic.entries {
		k := e.StatusListCredential + "#" + e.StatusListIndex
		if prev, ok := c.used[k]; ok {
			c.t.Errorf("status entry %s handed out to %s and %s", k, prev, ic.id)
		}
		c.used[k] = ic.id
	}
}

// checkAcknowledged checks, after a fault, that every acknowledged
// issuance is there (the agent's current credential is the one
// acknowledged), that no status entry went to two of them, and that each
// acknowledged revocation (revoked; nil for none) reads revoked. It returns
// the claims, for the issuances that follow.
func checkAcknowledged(ctx context.Context, t *testing.T, cl *client.Client, issued []issuedCred, revoked map[string]bool) *indexClaims {
	t.Helper()
	claims := &indexClaims{t: t, used: map[string]string{}}
	for _, c := range issued {
		claims.claim(c)
		a, err := cl.Agent(ctx, c.agent)
		if err != nil {
			t.Fatalf("acknowledged agent %s after the fault: %v", c.agent, err)
		}
		if a.CurrentCredential != c.id {
			t.Errorf("agent %s: current credential %s, acknowledged %s", c.agent, a.CurrentCredential, c.id)
		}
		if revoked[c.id] && a.Status != api.StatusRevoked {
			t.Errorf("credential %s: revocation acknowledged, status %s after the fault", c.id, a.Status)
		}
	}
	return claims
}

// errUnparsable: the issuer acknowledged a credential that does not parse.
var errUnparsable = errors.New("issued credential does not parse")

// issueOne registers a fresh agent through cl and returns the issuance as
// acknowledged, with the status entries of its credential.
func issueOne(ctx context.Context, cl *client.Client, purpose string) (issuedCred, error) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	agent, _ := client.KeyFromSigner(priv)
	proof, err := cl.Proof(ctx, agent)
	if err != nil {
		return issuedCred{}, err
	}
	out, err := cl.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"fault:test"},
		Audiences: []string{"https://fault.example.com"}, Owner: "fault", Purpose: purpose})
	if err != nil {
		return issuedCred{}, err
	}
	pc, err := vc.ParseCredential(out.Credential)
	if err != nil {
		return issuedCred{}, fmt.Errorf("%w: %v", errUnparsable, err)
	}
	return issuedCred{agent: agent.DID, id: out.ID, entries: pc.Credential.CredentialStatus}, nil
}
