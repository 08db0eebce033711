package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
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
		c, err := issueOne(ctx, cl, "kill during issuance")
		if errors.Is(err, errUnparsable) {
			t.Error(err)
		}
		return c, err
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
