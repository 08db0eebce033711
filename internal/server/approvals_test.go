package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

func TestApprovalsOverHTTP(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ok := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: ok.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"},
		NeedApproval: []string{"calendar:write"}}); err != nil {
		t.Fatal(err)
	}
	orch := client.New(ts.url, ok)

	// The admin follows the feed.
	events := make(chan string, 4)
	go func() {
		_ = ts.admin.ApprovalEvents(ctx, func(ev string, a *api.Approval) error {
			events <- ev + " " + a.ID
			return nil
		})
	}()
	time.Sleep(100 * time.Millisecond)

	agent := newKey(t)
	proof, err := orch.Proof(ctx, agent)
	if err != nil {
		t.Fatal(err)
	}
	// The 202 answer, exactly as the contract has it.
	var raw map[string]any
	resp := postRaw(t, ts, ok, "/v1/agents", api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:write"},
		Audiences: []string{calendar}, Owner: "o", Purpose: "p"}, &raw)
	if resp != http.StatusAccepted || raw["status"] != "pending" || len(raw) != 2 {
		t.Fatalf("POST /v1/agents: %d %v, want 202 {approval, status: pending}", resp, raw)
	}
	id := raw["approval"].(string)
	select {
	case ev := <-events:
		if ev != "pending "+id {
			t.Fatalf("feed: %q", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no pending event on the feed")
	}

	// The requester long-polls while the admin approves.
	got := make(chan *api.Approval, 1)
	go func() {
		a, err := orch.Approval(ctx, id, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := ts.admin.Approve(ctx, id, ""); problemCode(err) != "invalid_request" {
		t.Fatalf("approve without reason: %v", err)
	}
	if _, err := orch.Approve(ctx, id, "mine"); problemCode(err) != "forbidden" {
		t.Fatalf("a requester that is no approver: %v", err)
	}
	if _, err := ts.admin.Approve(ctx, id, "ok"); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		if a.Status != api.ApprovalApproved || a.Issued == nil || a.Issued.Credential == "" {
			t.Fatalf("long poll: %+v", a)
		}
		if res := ts.verify(t, agent, a.Issued.Credential, "calendar:write"); !res.Valid {
			t.Fatalf("approved credential does not verify: %+v", res.Error)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not return on approval")
	}
	select {
	case ev := <-events:
		if ev != "approved "+id {
			t.Fatalf("feed: %q", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no approved event on the feed")
	}
	if err := orch.ApprovalEvents(ctx, nil); problemCode(err) != "forbidden" {
		t.Fatalf("a non-approver followed the feed: %v", err)
	}
}

// postRaw sends a POST signed by key, as the client does, and decodes the
// JSON answer into out, returning the HTTP status.
func postRaw(t testing.TB, ts *testServer, key *client.Key, path string, in, out any) int {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return postSigned(t, ts, key, path, "", body, out)
}

// postSigned sends body to path, signed by key for path (and body), with
// query appended after signing (the presentation's htu leaves the query
// out), and decodes the JSON answer into out.
func postSigned(t testing.TB, ts *testServer, key *client.Key, path, query string, body []byte, out any) int {
	t.Helper()
	vp, err := key.Present(client.PresentOptions{Audience: ts.url, Method: http.MethodPost, URL: ts.url + path, BodyDigest: client.BodyDigest(body)})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.url+path+query, bytes.NewReader(body))
	req.Header.Set("Authorization", "VP "+vp)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// TestSubAgentApprovalOverHTTP: an agent's sub-agent request for a scope
// that needs approval answers 202; the agent long-polls as itself and
// collects the credential once an admin approves.
func TestSubAgentApprovalOverHTTP(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	ok := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: ok.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"},
		MaxDepth: 1, NeedApproval: []string{"calendar:write"}}); err != nil {
		t.Fatal(err)
	}
	orch := client.New(ts.url, ok)
	parent := newKey(t)
	proof, err := orch.Proof(ctx, parent)
	if err != nil {
		t.Fatal(err)
	}
	root, err := orch.Issue(ctx, api.IssueRequest{Agent: parent.DID, Proof: proof, Scopes: []string{"calendar:read"},
		Audiences: []string{calendar}, Owner: "o", Purpose: "p", TTL: api.Duration(30 * time.Minute)})
	if err != nil || root.Credential == "" {
		t.Fatalf("root: %+v %v", root, err)
	}
	// The root's grant has no calendar:write: a sub-agent cannot ask it,
	// approval or not.
	anon := client.New(ts.url, nil)
	child := newKey(t)
	cp, _ := anon.ProofFor(ctx, child, parent.DID)
	if _, err := anon.IssueSubAgent(ctx, parent, root.Credential, api.IssueRequest{Agent: child.DID, Proof: cp,
		Scopes: []string{"calendar:write"}, Audiences: []string{calendar}, Owner: "o", Purpose: "p"}); problemCode(err) != "scope_exceeds_ceiling" {
		t.Fatalf("beyond the parent: %v", err)
	}
	// A second root with calendar:write, approved, then its sub-agent.
	p2 := newKey(t)
	proof, _ = orch.Proof(ctx, p2)
	pending, err := orch.Issue(ctx, api.IssueRequest{Agent: p2.DID, Proof: proof, Scopes: []string{"calendar:write"},
		Audiences: []string{calendar}, Owner: "o", Purpose: "p", TTL: api.Duration(30 * time.Minute)})
	if err != nil || pending.Approval == "" || pending.Status != api.ApprovalPending {
		t.Fatalf("root needing approval: %+v %v", pending, err)
	}
	if _, err := ts.admin.Approve(ctx, pending.Approval, "ok"); err != nil {
		t.Fatal(err)
	}
	a, err := orch.Approval(ctx, pending.Approval, 0)
	if err != nil || a.Issued == nil {
		t.Fatalf("root approval: %+v %v", a, err)
	}
	cp, _ = anon.ProofFor(ctx, child, p2.DID)
	sub, err := anon.IssueSubAgent(ctx, p2, a.Issued.Credential, api.IssueRequest{Agent: child.DID, Proof: cp,
		Scopes: []string{"calendar:write"}, Audiences: []string{calendar}, Owner: "o", Purpose: "p"})
	if err != nil || sub.Approval == "" {
		t.Fatalf("sub-agent needing approval: %+v %v", sub, err)
	}
	got := make(chan *api.Approval, 1)
	go func() {
		v, err := anon.ApprovalAsAgent(ctx, p2, a.Issued.Credential, sub.Approval, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := ts.admin.Approve(ctx, sub.Approval, "sub ok"); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v == nil || v.Status != api.ApprovalApproved || v.Issued == nil {
			t.Fatalf("agent's long poll: %+v", v)
		}
		if res := ts.verify(t, child, v.Issued.Credential, "calendar:write"); !res.Valid || len(res.Delegation) != 1 {
			t.Fatalf("approved sub-agent: %+v", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the agent's long poll did not return")
	}
}
