package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// held is an agent's key and its current credential.
type held struct {
	key    *client.Key
	issued *api.Issued
}

// root registers, as the principal of by, an agent whose tree may be
// maxDepth deep, for task.
func (e *env) root(by *client.Key, maxDepth int, task string) held {
	e.t.Helper()
	cl := client.New(e.url, by)
	k := newKey(e.t)
	proof, err := cl.Proof(context.Background(), k)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := cl.Issue(context.Background(), api.IssueRequest{Agent: k.DID, Proof: proof, Scopes: []string{"calendar:read"},
		Audiences: []string{"https://calendar.example.com"}, Owner: "team-jobs", Purpose: "run the job", Task: task, MaxDepth: maxDepth})
	if err != nil {
		e.t.Fatal(err)
	}
	return held{k, out}
}

// child asks, as parent, for a sub-agent with the parent's grant.
func (e *env) child(parent held, task string) held {
	e.t.Helper()
	cl := client.New(e.url, nil)
	k := newKey(e.t)
	proof, err := cl.ProofFor(context.Background(), k, parent.key.DID)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := cl.IssueSubAgent(context.Background(), parent.key, parent.issued.Credential, api.IssueRequest{Agent: k.DID, Proof: proof,
		Scopes: []string{"calendar:read"}, Audiences: []string{"https://calendar.example.com"}, Owner: "team-jobs", Purpose: "a step", Task: task})
	if err != nil {
		e.t.Fatal(err)
	}
	return held{k, out}
}

// family is a three-level tree: root → child → grandchild, and a second
// child of the root.
type family struct{ root, child, grandchild, sibling held }

func (e *env) family(by *client.Key, task string) family {
	e.t.Helper()
	var f family
	f.root = e.root(by, 2, task)
	f.child = e.child(f.root, task)
	f.grandchild = e.child(f.child, task)
	f.sibling = e.child(f.root, task)
	return f
}

func agentPath(did string) string { return "/console/agent?did=" + url.QueryEscape(did) }

// agentHref is an agent page's link as html/template writes it (its
// percent-escapes in lower case).
func agentHref(did string) string {
	return "/console/agent?did=" + strings.ReplaceAll(url.QueryEscape(did), "%3A", "%3a")
}

// TestDelegationPages: the agent page shows its chain from the root with
// links and its sub-agents with their statuses; a sub-agent stopped by an
// ancestor names that ancestor; the confirmation of a revocation names how
// many descendants stop; the inventory filters by task; a task's page
// shows its tree; a task name carrying HTML is escaped.
func TestDelegationPages(t *testing.T) {
	e := newEnv(t)
	const task = `job-<b>42</b>`
	f := e.family(e.admin, task)
	other := e.root(e.admin, 0, "another-job")
	b := e.browser()
	b.signIn(e.admin)

	// The child: its chain (root) linked, its sub-agent listed.
	p := b.get(agentPath(f.child.key.DID))
	if p.status != http.StatusOK {
		t.Fatalf("agent page: %d %s", p.status, p.code())
	}
	for _, want := range []string{
		`id="ancestors"`,
		`href="` + agentHref(f.root.key.DID) + `"`,
		`id="descendants"`,
		`href="` + agentHref(f.grandchild.key.DID) + `"`,
		`data-agent="` + f.grandchild.key.DID + `">active<`,
		`Sub-agents (1)`,
		`job-&lt;b&gt;42&lt;/b&gt;`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the child's page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<b>42</b>") {
		t.Error("the task name's HTML reached the page unescaped")
	}
	if strings.Contains(p.body, f.sibling.key.DID) {
		t.Error("the child's page shows its sibling as a descendant")
	}

	// The root's revocation confirmation names the three descendants.
	p = b.get("/console/agent/confirm?action=revoke&did=" + url.QueryEscape(f.root.key.DID) + "&credential=" + url.QueryEscape(f.root.issued.ID))
	if p.status != http.StatusOK || !strings.Contains(p.body, "<strong>3 descendant(s)</strong>") {
		t.Fatalf("confirmation of the root's revocation: %d %q", p.status, p.body)
	}
	// An agent without sub-agents says so.
	p = b.get("/console/agent/confirm?action=retire&did=" + url.QueryEscape(other.key.DID))
	if !strings.Contains(p.body, "It has no sub-agent in service.") {
		t.Fatalf("confirmation for an agent without sub-agents: %q", p.body)
	}

	// Suspend the child in the console: the grandchild shows suspended
	// because of it; the confirmation counted 1.
	p = b.get("/console/agent/confirm?action=suspend&did=" + url.QueryEscape(f.child.key.DID) + "&credential=" + url.QueryEscape(f.child.issued.ID))
	if !strings.Contains(p.body, "<strong>1 descendant(s)</strong>") {
		t.Fatalf("confirmation of the child's suspension: %q", p.body)
	}
	csrf := b.csrf()
	if r := b.post("/console/agent/action", url.Values{"csrf": {csrf}, "did": {f.child.key.DID}, "action": {"suspend"},
		"credential": {f.child.issued.ID}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("suspend: %d %s", r.status, r.code())
	}
	p = b.get(agentPath(f.grandchild.key.DID))
	if !strings.Contains(p.body, `id="ancestor-stop"`) || !strings.Contains(p.body, `is <strong>suspended</strong> because its ancestor <a class="did" href="`+agentHref(f.child.key.DID)) {
		t.Fatalf("the grandchild's page does not name the suspending ancestor: %q", p.body)
	}
	// The grandchild's chain runs root → child → itself.
	chain := p.body[strings.Index(p.body, `id="ancestors"`):]
	i, j := strings.Index(chain, f.root.key.DID), strings.Index(chain, f.child.key.DID)
	if i < 0 || j < 0 || i > j {
		t.Fatalf("chain order on the grandchild's page: root at %d, child at %d", i, j)
	}

	// Inventory by task: the four agents of the job, not the other.
	p = b.get("/console/agents?task=" + url.QueryEscape(task))
	if n := strings.Count(p.body, `<a class="did" href="/console/agent?did=`); n != 4 || strings.Contains(p.body, other.key.DID) {
		t.Fatalf("inventory filtered by task: %d agents; the other job's shown: %v", n, strings.Contains(p.body, other.key.DID))
	}
	if strings.Contains(p.body, "<b>42</b>") {
		t.Error("the task filter's HTML reached the inventory unescaped")
	}
	// The task's page: one tree of four.
	p = b.get("/console/task?id=" + url.QueryEscape(task))
	if p.status != http.StatusOK || !strings.Contains(p.body, "4 agent(s) work for this job, in 1 delegation tree(s)") ||
		strings.Contains(p.body, "<b>42</b>") {
		t.Fatalf("task page: %d %q", p.status, p.body)
	}
	if p = b.get("/console/task?id="); p.status != http.StatusBadRequest || p.code() != "invalid_request" {
		t.Fatalf("task page without a task: %d %s", p.status, p.code())
	}

	// Revoke the root: every descendant shows revoked, naming the root.
	if r := b.post("/console/agent/action", url.Values{"csrf": {csrf}, "did": {f.root.key.DID}, "action": {"revoke"},
		"credential": {f.root.issued.ID}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.status, r.code())
	}
	p = b.get(agentPath(f.root.key.DID))
	for _, d := range []held{f.child, f.grandchild, f.sibling} {
		if !strings.Contains(p.body, `data-agent="`+d.key.DID+`">revoked<`) {
			t.Errorf("the root's tree does not show %s revoked", d.key.DID)
		}
	}
	if n := strings.Count(p.body, `because ancestor <a class="did" href="`+agentHref(f.root.key.DID)); n != 3 {
		t.Errorf("%d descendants name the revoked root as the cause, want 3", n)
	}
	// (The child's own suspension is what a verifier names for it.)
	for _, d := range []held{f.sibling, f.grandchild} {
		if res := e.verify(d.key, d.issued.Credential); res.Valid || res.Error == nil || res.Error.Code != "revoked" {
			t.Errorf("verify %s under the revoked root: %+v", d.key.DID, res.Error)
		}
	}
}

// TestDelegationOrchestrator: an orchestrator sees its own trees, and
// another orchestrator's agents are unknown to it, on the agent page and
// the task page alike.
func TestDelegationOrchestrator(t *testing.T) {
	e := newEnv(t)
	ops := e.addOrchestratorDepth("ops", 2)
	mine := e.family(ops, "job-ops")
	theirs := e.family(e.admin, "job-admin")
	b := e.browser()
	b.signIn(ops)
	if p := b.get(agentPath(mine.grandchild.key.DID)); p.status != http.StatusOK || !strings.Contains(p.body, mine.root.key.DID) {
		t.Fatalf("own grandchild: %d %s", p.status, p.code())
	}
	if p := b.get(agentPath(theirs.child.key.DID)); p.status != http.StatusNotFound || p.code() != "unknown_agent" {
		t.Fatalf("another's sub-agent by URL: %d %s", p.status, p.code())
	}
	if p := b.get("/console/task?id=job-admin"); p.status != http.StatusOK || !strings.Contains(p.body, `id="no-agents"`) || strings.Contains(p.body, theirs.root.key.DID) {
		t.Fatalf("another's task: %d %q", p.status, p.body)
	}
}

// addOrchestratorDepth registers an orchestrator whose agents may
// delegate maxDepth deep.
func (e *env) addOrchestratorDepth(name string, maxDepth int) *client.Key {
	e.t.Helper()
	k := newKey(e.t)
	if _, err := e.adminClient.AddPrincipal(context.Background(), api.Principal{DID: k.DID, Role: "orchestrator", Name: name,
		Ceiling: []string{"calendar:*"}, MaxDepth: maxDepth}); err != nil {
		e.t.Fatal(err)
	}
	return k
}
