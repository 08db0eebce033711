package server

import (
	"context"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// Two-replica tests of the features that keep per-process state next to
// the shared database: approvals' feed and long polls, DPoP nonces, OAuth
// tokens, delegation, console sessions (docs/deploy.md).

// TestReplicasApprovals: a request made on A reaches B's approval feed;
// B's long poll returns when A approves; a denial on A reaches B's feed.
func TestReplicasApprovals(t *testing.T) {
	r := startReplicas(t, 2)
	a, b := r[0], r[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ok := newKey(t)
	if _, err := a.admin.AddPrincipal(ctx, api.Principal{DID: ok.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"},
		NeedApproval: []string{"calendar:write"}}); err != nil {
		t.Fatal(err)
	}
	orchA := client.New(a.url, ok, client.WithHTTPClient(a.hc))
	orchB := client.New(b.url, ok, client.WithHTTPClient(b.hc))

	events := make(chan string, 8)
	go func() {
		_ = b.admin.ApprovalEvents(ctx, func(ev string, ap *api.Approval) error {
			events <- ev + " " + ap.ID
			return nil
		})
	}()
	time.Sleep(300 * time.Millisecond)
	want := func(ev string) {
		t.Helper()
		select {
		case got := <-events:
			if got != ev {
				t.Fatalf("B's feed: %q, want %q", got, ev)
			}
		case <-time.After(time.Second):
			t.Fatalf("B's feed: no %q within 1s", ev)
		}
	}
	request := func() string {
		t.Helper()
		agent := newKey(t)
		proof, err := orchA.Proof(ctx, agent)
		if err != nil {
			t.Fatal(err)
		}
		res, err := orchA.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:write"},
			Audiences: []string{calendar}, Owner: "o", Purpose: "p"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Approval == "" {
			t.Fatalf("issue: %+v, want a pending approval", res)
		}
		return res.Approval
	}

	id := request()
	want("pending " + id)

	got := make(chan *api.Approval, 1)
	go func() {
		ap, err := orchB.Approval(ctx, id, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- ap
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := a.admin.Approve(ctx, id, "ok"); err != nil {
		t.Fatal(err)
	}
	select {
	case ap := <-got:
		if ap == nil || ap.Status != api.ApprovalApproved || ap.Issued == nil {
			t.Fatalf("B's long poll: %+v", ap)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("B's long poll did not return within 2s of the approval on A")
	}
	want("approved " + id)

	id2 := request()
	want("pending " + id2)
	if _, err := a.admin.Deny(ctx, id2, "no"); err != nil {
		t.Fatal(err)
	}
	want("denied " + id2)
}
