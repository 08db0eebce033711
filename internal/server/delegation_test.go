package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
)

const calendar = "https://calendar.example.com"

// held is an agent's key and current credential.
type held struct {
	key  *client.Key
	cred string
	id   string
}

// rootAgent issues, as the admin, an agent whose tree may be maxDepth deep.
func (ts *testServer) rootAgent(t testing.TB, maxDepth int) held {
	t.Helper()
	ctx := context.Background()
	k := newKey(t)
	proof, err := ts.admin.Proof(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := ts.admin.Issue(ctx, api.IssueRequest{Agent: k.DID, Proof: proof, Scopes: []string{"calendar:read", "calendar:write"},
		Audiences: []string{calendar}, Owner: "team-a", Purpose: "plan", OnBehalfOf: "user:alice@example.com",
		TTL: api.Duration(30 * time.Minute), MaxDepth: maxDepth})
	if err != nil {
		t.Fatal(err)
	}
	return held{k, iss.Credential, iss.ID}
}

// subAgent asks, as parent, over HTTP, for a sub-agent.
func (ts *testServer) subAgent(t testing.TB, parent held) (held, error) {
	t.Helper()
	ctx := context.Background()
	cl := client.New(ts.url, nil)
	k := newKey(t)
	proof, err := cl.ProofFor(ctx, k, parent.key.DID)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := cl.IssueSubAgent(ctx, parent.key, parent.cred, api.IssueRequest{Agent: k.DID, Proof: proof,
		Scopes: []string{"calendar:read"}, Audiences: []string{calendar}, Owner: "team-a", Purpose: "read"})
	if err != nil {
		return held{}, err
	}
	return held{k, iss.Credential, iss.ID}, nil
}

func verifyAt(t testing.TB, v *verifier.Verifier, h held) (*verifier.Result, error) {
	t.Helper()
	vp, err := h.key.Present(client.PresentOptions{Credential: h.cred, Audience: calendar})
	if err != nil {
		t.Fatal(err)
	}
	return v.Verify(context.Background(), vp, verifier.Request{Scopes: []string{"calendar:read"}})
}

// untilRefused verifies each agent until it is refused with code, and
// returns the longest wait and the refusals.
func untilRefused(t testing.TB, v *verifier.Verifier, code reason.Code, hs ...held) (time.Duration, []error) {
	t.Helper()
	start := time.Now()
	errs := make([]error, len(hs))
	var longest time.Duration
	for i, h := range hs {
		for {
			_, err := verifyAt(t, v, h)
			if c, _ := reason.CodeOf(err); c == code {
				errs[i] = err
				longest = max(longest, time.Since(start))
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("agent %d still answers %v 5 s after the change", i, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return longest, errs
}

func detail(err error) string {
	var re *reason.Error
	if errors.As(err, &re) {
		return re.Detail
	}
	return ""
}

// TestCascadeOverHTTP builds a depth-3 tree over HTTP and checks, at a
// verifier that follows the issuer's change feed and never calls it, that
// suspending, reinstating, refreshing and revoking the root-most agent
// reaches every descendant within a second.
func TestCascadeOverHTTP(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := ts.rootAgent(t, 3)
	kid, err := ts.subAgent(t, root)
	if err != nil {
		t.Fatal(err)
	}
	grand, err := ts.subAgent(t, kid)
	if err != nil {
		t.Fatal(err)
	}
	great, err := ts.subAgent(t, grand)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.subAgent(t, great); problemCode(err) != "delegation_depth_exceeded" {
		t.Fatalf("depth 4 under a maximum of 3: %v, want delegation_depth_exceeded", err)
	}
	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{Issuers: []string{ts.app.Issuer.DID()},
		StatusEvents: []string{ts.url + "/v1/status/events"}, AllowHTTPLocalhost: true}, verifier.WithAudience(calendar))
	if err != nil {
		t.Fatal(err)
	}
	desc := []held{kid, grand, great}
	for i, h := range desc {
		res, err := verifyAt(t, v, h)
		if err != nil {
			t.Fatalf("depth %d: %v", i+1, err)
		}
		if len(res.Delegation) != i+1 || res.Delegation[0].Holder != root.key.DID || res.OnBehalfOf != "user:alice@example.com" {
			t.Fatalf("depth %d result: chain %+v onBehalfOf %q", i+1, res.Delegation, res.OnBehalfOf)
		}
	}
	time.Sleep(300 * time.Millisecond) // the feed connects

	// Suspend the root's credential: every descendant is suspended, the
	// detail naming the root.
	if _, err := ts.admin.Suspend(ctx, root.id); err != nil {
		t.Fatal(err)
	}
	took, errs := untilRefused(t, v, reason.Suspended, desc...)
	t.Logf("suspension reached 3 descendants in %v", took)
	if took > time.Second {
		t.Fatalf("suspension took %v to reach every descendant", took)
	}
	for _, err := range errs {
		if !strings.Contains(detail(err), root.key.DID) {
			t.Fatalf("detail %q does not name the root agent", detail(err))
		}
	}
	a, err := ts.admin.Agent(ctx, great.key.DID)
	if err != nil || a.Status != api.StatusSuspended || a.Ancestor != root.key.DID {
		t.Fatalf("inventory of the great-grandchild: %+v %v", a, err)
	}
	// Reinstate: they verify again.
	if _, err := ts.admin.Reinstate(ctx, root.id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, h := range desc {
		for {
			if _, err := verifyAt(t, v, h); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("after reinstating: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Refresh the root and the middle agent: the new credentials keep the
	// cascade (the agent-level entries are the agent's, not a credential's).
	r2, err := client.New(ts.url, nil).Refresh(ctx, root.key, root.cred)
	if err != nil {
		t.Fatal(err)
	}
	root = held{root.key, r2.Credential, r2.ID}
	k2, err := client.New(ts.url, nil).Refresh(ctx, kid.key, kid.cred)
	if err != nil {
		t.Fatal(err)
	}
	kid = held{kid.key, k2.Credential, k2.ID}
	desc = []held{kid, grand, great}
	for _, h := range desc {
		if _, err := verifyAt(t, v, h); err != nil {
			t.Fatalf("after refreshes: %v", err)
		}
	}
	// Revoke the root's new credential: every descendant, refreshed or
	// not, is revoked within a second.
	if _, err := ts.admin.Revoke(ctx, root.id); err != nil {
		t.Fatal(err)
	}
	took, errs = untilRefused(t, v, reason.Revoked, desc...)
	t.Logf("revocation reached 3 descendants in %v", took)
	if took > time.Second {
		t.Fatalf("revocation took %v to reach every descendant", took)
	}
	for _, err := range errs {
		if !strings.Contains(detail(err), root.key.DID) {
			t.Fatalf("detail %q does not name the root agent", detail(err))
		}
	}
	// A descendant cannot refresh its way out.
	if _, err := client.New(ts.url, nil).Refresh(ctx, great.key, great.cred); problemCode(err) != "revoked" {
		t.Fatalf("refresh under a revoked ancestor: %v, want revoked", err)
	}
	for _, h := range desc {
		a, err := ts.admin.Agent(ctx, h.key.DID)
		if err != nil || a.Status != api.StatusRevoked || a.Ancestor != root.key.DID {
			t.Fatalf("inventory of %s: status %q ancestor %q %v", h.key.DID, a.Status, a.Ancestor, err)
		}
	}
}

// TestVerifierServiceAuditsChain: POST /v1/verify answers a sub-agent's
// chain and its audit event carries it.
func TestVerifierServiceAuditsChain(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	root := ts.rootAgent(t, 2)
	kid, err := ts.subAgent(t, root)
	if err != nil {
		t.Fatal(err)
	}
	grand, err := ts.subAgent(t, kid)
	if err != nil {
		t.Fatal(err)
	}
	res := ts.verify(t, grand.key, grand.cred, "calendar:read")
	if !res.Valid || len(res.Delegation) != 2 || res.Delegation[1].Holder != kid.key.DID || res.DelegatedBy != ts.app.AdminDID {
		t.Fatalf("verify: %+v", res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, err := ts.admin.Audit(ctx, client.AuditFilter{Agent: grand.key.DID, Action: "verify"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 {
			if len(evs[0].Delegation) != 2 || evs[0].Delegation[0].Holder != root.key.DID || evs[0].Delegation[1].Credential != kid.id {
				t.Fatalf("audit event chain %+v", evs[0].Delegation)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d verify events for the sub-agent, want 1", len(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSubAgentOverHTTPRefusals checks that the HTTP face keeps the codes.
func TestSubAgentOverHTTPRefusals(t *testing.T) {
	ts := start(t, t.TempDir())
	root := ts.rootAgent(t, 0)
	if _, err := ts.subAgent(t, root); problemCode(err) != "delegation_depth_exceeded" {
		t.Fatalf("no delegation allowed: %v", err)
	}
	other := newKey(t)
	if _, err := ts.subAgent(t, held{other, root.cred, root.id}); problemCode(err) != "holder_mismatch" {
		t.Fatalf("someone else's credential: %v", err)
	}
}

// A task (job) id is any string of up to 256 bytes: one holding a slash,
// a space or a percent sign is retired by task like any other, through
// the client's escaped path (not "no such endpoint"), and only its own
// job's agents are.
func TestRetireTaskEscaped(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	tasks := []string{"ci/run 7", "ci", "50%/x?y#z"}
	dids := map[string]string{}
	for _, task := range tasks {
		dids[task] = ts.taskRoot(t, task).key.DID
	}
	for _, task := range []string{"ci/run 7", "50%/x?y#z"} {
		got, err := ts.admin.RetireTask(ctx, task)
		if err != nil {
			t.Fatalf("retire task %q: %v", task, err)
		}
		if len(got) != 1 || got[0].DID != dids[task] || got[0].Status != api.StatusRetired {
			t.Fatalf("retire task %q: %+v; want its one agent, retired", task, got)
		}
	}
	a, err := ts.admin.Agent(ctx, dids["ci"])
	if err != nil || a.Status != api.StatusActive {
		t.Fatalf("the agent of task \"ci\": %+v, %v; want still active", a, err)
	}
}

// TestRetireTreeInTheBody: retiring a subtree is asked in the body, which
// the request presentation's htd binds, never in the query, which htu
// leaves out: a request captured on its way to retire one agent, sent on
// with ?tree=true, is refused and retires nothing.
func TestRetireTreeInTheBody(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	root := ts.rootAgent(t, 2)
	kid, err := ts.subAgent(t, root)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/agents/" + url.PathEscape(root.key.DID) + "/retire"
	for _, tc := range []struct{ name, query, body string }{
		{"tree in the query", "?tree=true", ""},
		{"any query", "?x=1", ""},
		{"tree not a boolean", "", `{"tree": "yes"}`},
		{"an unknown member", "", `{"tree": true, "cascade": true}`},
	} {
		var p api.Problem
		if st := postSigned(t, ts, ts.admin.Key(), path, tc.query, []byte(tc.body), &p); st != http.StatusBadRequest || p.Code != "invalid_request" {
			t.Fatalf("%s: %d %+v; want 400 invalid_request", tc.name, st, p)
		}
	}
	for _, h := range []held{root, kid} {
		if a, err := ts.admin.Agent(ctx, h.key.DID); err != nil || a.Status != api.StatusActive {
			t.Fatalf("%s after the refusals: %+v %v; want active", h.key.DID, a, err)
		}
	}
	got, err := ts.admin.RetireTree(ctx, root.key.DID)
	if err != nil || len(got) != 2 {
		t.Fatalf("retire the tree: %+v %v; want both agents", got, err)
	}
}
