package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/vc"
)

// TestFaultKillDuringIssueAndRevoke kills -9 the real server while eight
// orchestrator connections issue credentials and revoke every third one,
// restarts it on the same data, and checks what the issuer acknowledged:
// every credential answered 201 is in the inventory, every revocation
// answered 200 holds, no status-list index was handed out twice — before
// the kill, or again after it — and the audit chain verifies.
func TestFaultKillDuringIssueAndRevoke(t *testing.T) {
	bin, dir := buildAgentid(t)
	cmd, base := startChild(t, bin, dir, "")
	ctx := context.Background()
	admin, err := client.LoadKey(filepath.Join(dir, server.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu      sync.Mutex
		issued  []issuedCred
		revoked = map[string]bool{}
	)
	issue := func(cl *client.Client) (issuedCred, error) {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		agent, _ := client.KeyFromSigner(priv)
		proof, err := cl.Proof(ctx, agent)
		if err != nil {
			return issuedCred{}, err
		}
		out, err := cl.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"fault:test"},
			Audiences: []string{"https://fault.example.com"}, Owner: "fault", Purpose: "kill during issuance"})
		if err != nil {
			return issuedCred{}, err
		}
		pc, err := vc.ParseCredential(out.Credential)
		if err != nil {
			t.Errorf("issued credential does not parse: %v", err)
			return issuedCred{}, err
		}
		return issuedCred{agent: agent.DID, id: out.ID, entries: pc.Credential.CredentialStatus}, nil
	}

	const workers, perWorker = 8, 300 // bounded: at most 2,400 issuances
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			cl := client.New(base, admin)
			for i := range perWorker {
				select {
				case <-stop:
					return
				default:
				}
				c, err := issue(cl)
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				issued = append(issued, c)
				mu.Unlock()
				if i%3 == 0 {
					if _, err := cl.Revoke(ctx, c.id); err != nil {
						return
					}
					mu.Lock()
					revoked[c.id] = true
					mu.Unlock()
				}
			}
		})
	}
	killUnderLoad(t, cmd, stop, &wg)
	if len(issued) < 20 || len(revoked) < 5 {
		t.Fatalf("only %d issuances and %d revocations answered before the kill: the load did not run", len(issued), len(revoked))
	}
	t.Logf("%d issuances and %d revocations acknowledged before kill -9", len(issued), len(revoked))

	_, base = startChild(t, bin, dir, "127.0.0.1:"+strings.TrimPrefix(base, "http://localhost:"))
	cl := client.New(base, admin)
	claims := checkAcknowledged(ctx, t, cl, issued, revoked)
	// Indexes are never reused after a crash either.
	for range 50 {
		c, err := issue(cl)
		if err != nil {
			t.Fatalf("issuance after the restart: %v", err)
		}
		claims.claim(c)
	}
	rep, err := cl.AuditVerify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit verify after the kill: %v %+v", err, rep)
	}
}
