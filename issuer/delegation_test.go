package issuer

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

const agentsURL = testURL + "/v1/agents"

// node is an agent of a delegation tree with its current credential.
type node struct {
	a    *verifiertest.Agent
	cred string
	id   string
}

// tree registers an orchestrator whose agents may delegate maxDepth deep
// and a root agent with the grant mod sets (scopes calendar:read and
// calendar:write by default).
func (e *env) tree(tb testing.TB, maxDepth int, mod func(*IssueRequest)) (*Principal, node) {
	tb.Helper()
	_, p := e.newOrchestrator(tb, Principal{MaxDepth: maxDepth})
	a, iss := e.issue(tb, p, func(r *IssueRequest) {
		r.Scopes = []string{"calendar:read", "calendar:write"}
		r.TTL, r.Lifetime = 30*time.Minute, 2*time.Hour
		r.OnBehalfOf = "user:alice@example.com"
		if mod != nil {
			mod(r)
		}
	})
	return p, node{a, iss.Credential, iss.ID}
}

// childRequest is a valid sub-agent request of parent for child.
func (e *env) childRequest(tb testing.TB, parent *verifiertest.Agent, child *verifiertest.Agent) IssueRequest {
	tb.Helper()
	return IssueRequest{Agent: child.DID, Proof: e.proofFor(tb, child, parent.DID), Scopes: []string{"calendar:read"},
		Audiences: []string{calendarAPI}, Owner: "team-payments", Purpose: "read one calendar"}
}

// delegate asks, as parent presenting cred, for r; the presentation binds
// the request and its body.
func (e *env) delegate(tb testing.TB, parent *verifiertest.Agent, cred string, r IssueRequest) (*Issued, error) {
	tb.Helper()
	body, err := json.Marshal(r.Agent + r.Owner)
	if err != nil {
		tb.Fatal(err)
	}
	vp := parent.Present(tb, cred, testURL, "POST", agentsURL, e.clock.Now(), func(p *vc.Presentation) { p.Htd = BodyDigest(body) })
	return e.is.IssueAsAgent(audit.WithSource(context.Background(), "10.1.2.3"), vp, "POST", agentsURL, body, r)
}

// child delegates from parent to a fresh agent with mod applied.
func (e *env) child(tb testing.TB, parent node, mod func(*IssueRequest)) node {
	tb.Helper()
	c := e.newAgent(tb)
	r := e.childRequest(tb, parent.a, c)
	if mod != nil {
		mod(&r)
	}
	iss, err := e.delegate(tb, parent.a, parent.cred, r)
	if err != nil {
		tb.Fatalf("IssueAsAgent: %v", err)
	}
	return node{c, iss.Credential, iss.ID}
}

func TestSubAgentCredential(t *testing.T) {
	e := newEnv(t)
	p, root := e.tree(t, 2, nil)
	kid := e.child(t, root, func(r *IssueRequest) { r.Task = "job-7" })
	grand := e.child(t, kid, nil)

	c := parse(t, grand.cred)
	s := c.CredentialSubject
	want := []vc.DelegationLink{{Credential: root.id, Holder: root.a.DID}, {Credential: kid.id, Holder: kid.a.DID}}
	if !slices.Equal(s.Delegation, want) {
		t.Fatalf("delegation = %+v, want %+v", s.Delegation, want)
	}
	if s.DelegatedBy != p.DID || s.OnBehalfOf != "user:alice@example.com" || s.Task != "job-7" {
		t.Fatalf("delegatedBy %q onBehalfOf %q task %q: want the root principal, the inherited onBehalfOf and task",
			s.DelegatedBy, s.OnBehalfOf, s.Task)
	}
	// Its own pair, then the agent-level pair of each ancestor.
	if len(c.CredentialStatus) != 2+2*2 {
		t.Fatalf("credentialStatus has %d entries, want 6", len(c.CredentialStatus))
	}
	for i, st := range c.CredentialStatus {
		if want := purposes[i%2]; st.StatusPurpose != string(want) {
			t.Fatalf("entry %d purpose %s, want %s", i, st.StatusPurpose, want)
		}
	}
	// The root's own credential carries only its own pair.
	if n := len(parse(t, root.cred).CredentialStatus); n != 2 {
		t.Fatalf("root credential has %d entries, want 2", n)
	}
	a, err := e.is.Agent(context.Background(), p, grand.a.DID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Parent != kid.a.DID || a.Depth != 2 || a.CreatedBy != p.DID || a.Status != StatusActive {
		t.Fatalf("inventory: parent %s depth %d createdBy %s status %s", a.Parent, a.Depth, a.CreatedBy, a.Status)
	}
	evs := e.events(t, audit.Filter{Agent: grand.a.DID, Action: audit.ActionAgentIssue})
	if len(evs) != 1 || evs[0].Actor != kid.a.DID || len(evs[0].Delegation) != 2 || evs[0].Delegation[1].Holder != kid.a.DID {
		t.Fatalf("audit events %+v: want one issuance by the parent carrying the chain", evs)
	}
	e.verifyAudit(t)
}

func TestSubAgentRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxDepth int
		rootMod  func(*IssueRequest)
		mod      func(e *env, t testing.TB, r *IssueRequest, root node)
		kind     Kind
		code     Code
		detail   string
	}{
		{name: "wider scopes", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) {
			r.Scopes = []string{"calendar:read", "calendar:delete"}
		},
			kind: KindForbidden, code: CodeScopeExceedsCeiling, detail: "calendar:delete"},
		{name: "wildcard where the parent has none", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) { r.Scopes = []string{"calendar:*"} },
			kind: KindForbidden, code: CodeScopeExceedsCeiling, detail: "wildcard"},
		{name: "audience not in the parent's", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) {
			r.Audiences = []string{"https://mail.example.com"}
		},
			kind: KindForbidden, code: CodeAudienceNotAllowed, detail: "mail.example.com"},
		{name: "ttl past the parent's credential", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) { r.TTL = 45 * time.Minute },
			kind: KindForbidden, code: CodeLifetimeExceeds, detail: "longer than the parent's"},
		{name: "ttl ends after the parent's credential", mod: func(e *env, _ testing.TB, r *IssueRequest, _ node) {
			e.clock.Advance(20 * time.Minute)
			r.TTL, r.Proof = 15*time.Minute, "" // a fresh proof below
		}, kind: KindForbidden, code: CodeLifetimeExceeds, detail: "ends after the parent's credential"},
		{name: "registration past the parent's", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) { r.Lifetime = 3 * time.Hour },
			kind: KindForbidden, code: CodeLifetimeExceeds, detail: "parent's registration"},
		{name: "higher rate", rootMod: func(r *IssueRequest) { r.Constraints = &vc.Constraints{RateLimit: "60/m"} },
			mod:  func(_ *env, _ testing.TB, r *IssueRequest, _ node) { r.Constraints = &vc.Constraints{RateLimit: "2/s"} },
			kind: KindForbidden, code: CodeConstraintLooser, detail: "rate limit"},
		{name: "network outside the parent's", rootMod: func(r *IssueRequest) { r.Constraints = &vc.Constraints{SourceNetworks: []string{"10.1.0.0/16"}} },
			mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) {
				r.Constraints = &vc.Constraints{SourceNetworks: []string{"10.0.0.0/8"}}
			},
			kind: KindForbidden, code: CodeConstraintLooser, detail: "source network"},
		{name: "time window outside the parent's", rootMod: func(r *IssueRequest) {
			r.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "08:00", End: "18:00"}}
		}, mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) {
			r.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "07:00", End: "12:00"}}
		}, kind: KindForbidden, code: CodeConstraintLooser, detail: "time window"},
		{name: "time window in another zone", rootMod: func(r *IssueRequest) {
			r.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "08:00", End: "18:00"}}
		}, mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) {
			r.Constraints = &vc.Constraints{TimeWindow: &vc.TimeWindow{Start: "09:00", End: "10:00", TZ: "Europe/Paris"}}
		}, kind: KindForbidden, code: CodeConstraintLooser, detail: "zone"},
		{name: "depth over the limit (default: no delegation)", maxDepth: -1,
			kind: KindForbidden, code: CodeDepthExceeded, detail: "depth 1"},
		{name: "cycle: the parent's own key", mod: func(e *env, t testing.TB, r *IssueRequest, root node) {
			r.Agent, r.Proof = root.a.DID, e.proofFor(t, root.a, root.a.DID)
		}, kind: KindForbidden, code: CodeDelegationCycle, detail: "parent's own"},
		{name: "another onBehalfOf", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) { r.OnBehalfOf = "user:bob@example.com" },
			kind: KindForbidden, code: CodeOnBehalfOf},
		{name: "constraint the schema refuses", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) {
			r.Constraints = &vc.Constraints{RateLimit: "lots"}
		}, kind: KindInvalid, code: CodeInvalidRequest, detail: "schema"},
		{name: "maxDepth in a sub-agent request", mod: func(_ *env, _ testing.TB, r *IssueRequest, _ node) { r.MaxDepth = 3 },
			kind: KindInvalid, code: CodeInvalidRequest},
		{name: "proof made for another", mod: func(e *env, t testing.TB, r *IssueRequest, _ node) {
			c := e.newAgent(t)
			r.Agent, r.Proof = c.DID, e.proofFor(t, c, e.orch.DID)
		}, kind: KindInvalid, code: CodeProofPrincipal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			depth := tc.maxDepth
			if depth == 0 {
				depth = 2
			} else if depth < 0 {
				depth = 0
			}
			_, root := e.tree(t, depth, tc.rootMod)
			c := e.newAgent(t)
			r := e.childRequest(t, root.a, c)
			if tc.mod != nil {
				tc.mod(e, t, &r, root)
			}
			if r.Proof == "" {
				r.Proof = e.proofFor(t, c, root.a.DID)
			}
			_, err := e.delegate(t, root.a, root.cred, r)
			ie := wantErr(t, err, tc.kind, tc.code)
			if !strings.Contains(ie.Detail, tc.detail) {
				t.Fatalf("detail %q does not name %q", ie.Detail, tc.detail)
			}
			evs := e.events(t, audit.Filter{Action: audit.ActionAgentIssue, Decision: audit.DecisionDeny})
			if len(evs) != 1 || evs[0].Reason != string(tc.code) || evs[0].Actor != root.a.DID {
				t.Fatalf("audit: %+v, want one denial %s by the parent", evs, tc.code)
			}
			if e.count(t, bucketAgents) != 1 {
				t.Fatal("a refused request registered an agent")
			}
		})
	}
}

func TestSubAgentCycleWithAncestor(t *testing.T) {
	e := newEnv(t)
	_, root := e.tree(t, 3, nil)
	kid := e.child(t, root, nil)
	r := e.childRequest(t, kid.a, root.a)
	_, err := e.delegate(t, kid.a, kid.cred, r)
	wantErr(t, err, KindForbidden, CodeDelegationCycle)
}

func TestSubAgentDepthLimit(t *testing.T) {
	e := newEnv(t)
	_, root := e.tree(t, 1, nil)
	kid := e.child(t, root, nil)
	_, err := e.delegate(t, kid.a, kid.cred, e.childRequest(t, kid.a, e.newAgent(t)))
	ie := wantErr(t, err, KindForbidden, CodeDepthExceeded)
	if !strings.Contains(ie.Detail, "depth 2") || !strings.Contains(ie.Detail, "is 1") {
		t.Fatalf("detail %q", ie.Detail)
	}
}

func TestSubAgentParentNotLive(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		do   func(e *env, root node)
		kind Kind
		code Code
	}{
		{"revoked", func(e *env, root node) {
			if _, err := e.is.SetStatus(ctx, e.adminP, root.id, Revoke); err != nil {
				t.Fatal(err)
			}
		}, KindForbidden, Code(reason.Revoked)},
		{"suspended", func(e *env, root node) {
			if _, err := e.is.SetStatus(ctx, e.adminP, root.id, Suspend); err != nil {
				t.Fatal(err)
			}
		}, KindForbidden, Code(reason.Suspended)},
		{"expired", func(e *env, _ node) { e.clock.Advance(31 * time.Minute) }, KindForbidden, Code(reason.Expired)},
		{"retired", func(e *env, root node) {
			if _, err := e.is.Retire(ctx, e.adminP, root.a.DID); err != nil {
				t.Fatal(err)
			}
		}, KindForbidden, Code(reason.Revoked)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, root := e.tree(t, 2, nil)
			tc.do(e, root)
			_, err := e.delegate(t, root.a, root.cred, e.childRequest(t, root.a, e.newAgent(t)))
			wantErr(t, err, tc.kind, tc.code)
		})
	}
}

func TestSubAgentSomeoneElsesCredential(t *testing.T) {
	e := newEnv(t)
	_, root := e.tree(t, 2, nil)
	thief := e.newAgent(t)
	r := e.childRequest(t, thief, e.newAgent(t))
	_, err := e.delegate(t, thief, root.cred, r)
	wantErr(t, err, KindForbidden, Code(reason.HolderMismatch))
}

func TestSubAgentBodyBinding(t *testing.T) {
	e := newEnv(t)
	_, root := e.tree(t, 2, nil)
	r := e.childRequest(t, root.a, e.newAgent(t))
	vp := root.a.Present(t, root.cred, testURL, "POST", agentsURL, e.clock.Now(), func(p *vc.Presentation) { p.Htd = BodyDigest([]byte("other")) })
	_, err := e.is.IssueAsAgent(context.Background(), vp, "POST", agentsURL, []byte("this"), r)
	wantErr(t, err, KindUnauthenticated, Code(reason.RequestMismatch))
}

func TestRootMaxDepth(t *testing.T) {
	e := newEnv(t)
	// An orchestrator may not ask beyond its own maximum; an admin may.
	_, p := e.newOrchestrator(t, Principal{MaxDepth: 1})
	a := e.newAgent(t)
	r := e.request(t, a)
	r.Proof, r.MaxDepth = e.proofFor(t, a, p.DID), 2
	_, err := e.is.Issue(context.Background(), p, r)
	wantErr(t, err, KindForbidden, CodeDepthExceeded)
	_, iss := e.issue(t, e.adminP, func(r *IssueRequest) { r.MaxDepth = 3 })
	if iss.Agent.MaxDepth != 3 {
		t.Fatalf("maxDepth = %d, want 3", iss.Agent.MaxDepth)
	}
}

func TestRetireTreeAndTask(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	p, root := e.tree(t, 3, func(r *IssueRequest) { r.Task = "job-1" })
	kid := e.child(t, root, nil) // inherits job-1
	grand := e.child(t, kid, func(r *IssueRequest) { r.Task = "job-2" })
	sibling := e.child(t, root, func(r *IssueRequest) { r.Task = "job-3" })
	_, other := e.tree(t, 1, func(r *IssueRequest) { r.Task = "job-2" })

	// Retiring kid's subtree leaves root and sibling alone.
	got, err := e.is.RetireTree(ctx, p, kid.a.DID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].DID != kid.a.DID || got[1].DID != grand.a.DID {
		t.Fatalf("retired %+v, want kid then grandchild", got)
	}
	for _, n := range []node{kid, grand} {
		if !e.bit(t, entry(t, parse(t, n.cred), "revocation")) {
			t.Fatalf("%s: credential not revoked", n.a.DID)
		}
	}
	for _, n := range []node{root, sibling} {
		a, err := e.is.Agent(ctx, e.adminP, n.a.DID)
		if err != nil || a.Status != StatusActive {
			t.Fatalf("%s: %v %v, want active", n.a.DID, a.Status, err)
		}
	}
	_, err = e.is.RetireTask(ctx, p, "job-nothing")
	wantErr(t, err, KindNotFound, CodeUnknownAgent)
	// Another orchestrator's tree is out of reach: of job-2, p sees only
	// its own grandchild, already retired.
	_, err = e.is.RetireTask(ctx, p, "job-2")
	wantErr(t, err, KindConflict, CodeAgentRetired)
	// job-2: the grandchild (already retired) and the other tree's root;
	// the admin reaches both trees.
	got, err = e.is.RetireTask(ctx, e.adminP, "job-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DID != other.a.DID {
		t.Fatalf("retired %+v, want the other root only", got)
	}
	evs := e.events(t, audit.Filter{Action: audit.ActionAgentRetire, Decision: audit.DecisionAllow})
	if len(evs) != 3 {
		t.Fatalf("%d retire events, want one per agent retired (3)", len(evs))
	}
	// Again: nothing left to retire.
	_, err = e.is.RetireTask(ctx, e.adminP, "job-2")
	wantErr(t, err, KindConflict, CodeAgentRetired)
	// The sibling's descendants would be stopped through root: retiring
	// root's tree reaches the sibling.
	if got, err = e.is.RetireTree(ctx, e.adminP, root.a.DID); err != nil || len(got) != 2 {
		t.Fatalf("retire root tree: %d agents, %v", len(got), err)
	}
	e.verifyAudit(t)
}

// TestRemovePrincipalStopsItsTree: removing the root principal suspends
// its sub-agents too (they belong to its tree), and the root agent's
// agent-level suspension entry with them.
func TestRemovePrincipalStopsItsTree(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	p, root := e.tree(t, 2, nil)
	kid := e.child(t, root, nil)
	if err := e.is.RemovePrincipal(ctx, e.adminP, p.DID); err != nil {
		t.Fatal(err)
	}
	kc := parse(t, kid.cred)
	for i, st := range kc.CredentialStatus {
		if st.StatusPurpose == "suspension" && !e.bit(t, st) {
			t.Fatalf("suspension entry %d of the sub-agent's credential is clear", i)
		}
	}
	a, err := e.is.Agent(ctx, e.adminP, kid.a.DID)
	if err != nil || a.Status != StatusOrphaned {
		t.Fatalf("sub-agent: %v %v, want orphaned", a.Status, err)
	}
}
