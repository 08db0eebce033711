package issuer

import (
	"context"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// approvalEnv has an orchestrator (itself an approver) whose ceiling marks
// calendar:write as needing approval, and a second approver.
type approvalEnv struct {
	*env
	req      *Principal
	approver *Principal
}

func newApprovalEnv(t *testing.T) *approvalEnv {
	t.Helper()
	e := newEnv(t)
	_, req := e.newOrchestrator(t, Principal{NeedApproval: []string{"calendar:write"}, Approver: true})
	_, appr := e.newOrchestrator(t, Principal{Approver: true})
	return &approvalEnv{e, req, appr}
}

// ask requests calendar:read and calendar:write for a fresh agent.
func (e *approvalEnv) ask(t *testing.T) (*verifiertest.Agent, *Approval) {
	t.Helper()
	a := e.newAgent(t)
	r := e.request(t, a)
	r.Proof, r.Scopes = e.proofFor(t, a, e.req.DID), []string{"calendar:read", "calendar:write"}
	iss, err := e.is.Issue(context.Background(), e.req, r)
	if err != nil {
		t.Fatal(err)
	}
	if iss.Pending == nil || iss.Credential != "" || iss.Pending.Status != ApprovalPending {
		t.Fatalf("Issue = %+v, want a pending approval and no credential", iss)
	}
	return a, iss.Pending
}

func TestApprovalFlow(t *testing.T) {
	ctx := context.Background()
	e := newApprovalEnv(t)
	a, p := e.ask(t)
	if e.count(t, bucketAgents) != 0 || e.count(t, bucketCredentials) != 0 {
		t.Fatal("a pending request registered something")
	}
	if evs := e.events(t, audit.Filter{Action: ActionApprovalRequest}); len(evs) != 1 || evs[0].Actor != e.req.DID {
		t.Fatalf("request events %+v", evs)
	}
	// A request without calendar:write needs none.
	if _, iss := e.issue(t, e.req, nil); iss.Credential == "" {
		t.Fatal("no issuance")
	}

	// The requester long-polls; the approver approves.
	got := make(chan *Approval, 1)
	go func() {
		v, err := e.is.GetApproval(ctx, e.req, p.ID, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if _, err := e.is.Approve(ctx, e.approver, p.ID, "ticket CHG-42"); err != nil {
		t.Fatal(err)
	}
	v := <-got
	if time.Since(start) > 2*time.Second || v.Status != ApprovalApproved || v.Issued == nil || v.Issued.Credential == "" {
		t.Fatalf("long poll returned %+v after %v", v, time.Since(start))
	}
	c := parse(t, v.Issued.Credential)
	ap := c.CredentialSubject.Approval
	if ap == nil || ap.ID != p.ID || ap.Approver != e.approver.DID || ap.Reason != "ticket CHG-42" || !ap.At.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Fatalf("credential approval %+v", ap)
	}
	if c.CredentialSubject.ID != a.DID || c.CredentialSubject.DelegatedBy != e.req.DID {
		t.Fatalf("credential subject %+v", c.CredentialSubject)
	}
	// The approver sees the decision, not the credential.
	if v, err := e.is.GetApproval(ctx, e.approver, p.ID, 0); err != nil || v.Issued != nil || v.DecidedBy != e.approver.DID {
		t.Fatalf("approver's view %+v %v", v, err)
	}
	if evs := e.events(t, audit.Filter{Action: ActionApprovalApprove}); len(evs) != 1 || evs[0].Actor != e.approver.DID || evs[0].Detail != "reason: ticket CHG-42" {
		t.Fatalf("approve events %+v", evs)
	}
	if agent, err := e.is.Agent(ctx, e.adminP, a.DID); err != nil || agent.Approval == nil || agent.Approval.Approver != e.approver.DID {
		t.Fatalf("inventory %+v %v", agent, err)
	}
	e.verifyAudit(t)
}

func TestApprovalRefused(t *testing.T) {
	ctx := context.Background()
	t.Run("approving one's own request", func(t *testing.T) {
		e := newApprovalEnv(t)
		_, p := e.ask(t)
		_, err := e.is.Approve(ctx, e.req, p.ID, "me")
		wantErr(t, err, KindForbidden, CodeSelfApproval)
		if evs := e.events(t, audit.Filter{Action: ActionApprovalApprove, Decision: audit.DecisionDeny}); len(evs) != 1 || evs[0].Reason != string(CodeSelfApproval) {
			t.Fatalf("denial not audited: %+v", evs)
		}
	})
	t.Run("approving twice", func(t *testing.T) {
		e := newApprovalEnv(t)
		_, p := e.ask(t)
		if _, err := e.is.Approve(ctx, e.approver, p.ID, "ok"); err != nil {
			t.Fatal(err)
		}
		_, err := e.is.Approve(ctx, e.adminP, p.ID, "ok again")
		wantErr(t, err, KindConflict, CodeApprovalDecided)
		if n := e.count(t, bucketCredentials); n != 1 {
			t.Fatalf("%d credentials, want 1", n)
		}
	})
	t.Run("approving an expired request", func(t *testing.T) {
		e := newApprovalEnv(t)
		_, p := e.ask(t)
		e.clock.Advance(DefaultApprovalTTL)
		_, err := e.is.Approve(ctx, e.approver, p.ID, "late")
		wantErr(t, err, KindConflict, CodeApprovalExpired)
		if v, _ := e.is.GetApproval(ctx, e.req, p.ID, time.Second); v.Status != ApprovalExpired {
			t.Fatalf("status %s, want expired", v.Status)
		}
		if e.count(t, bucketAgents) != 0 {
			t.Fatal("an expired request registered the agent")
		}
	})
	t.Run("deny then approve", func(t *testing.T) {
		e := newApprovalEnv(t)
		_, p := e.ask(t)
		v, err := e.is.Deny(ctx, e.approver, p.ID, "not this week")
		if err != nil || v.Status != ApprovalDenied {
			t.Fatalf("deny: %+v %v", v, err)
		}
		_, err = e.is.Approve(ctx, e.adminP, p.ID, "changed my mind")
		wantErr(t, err, KindConflict, CodeApprovalDecided)
		if e.count(t, bucketAgents) != 0 {
			t.Fatal("a denied request registered the agent")
		}
	})
	t.Run("no reason", func(t *testing.T) {
		e := newApprovalEnv(t)
		_, p := e.ask(t)
		_, err := e.is.Approve(ctx, e.approver, p.ID, "")
		wantErr(t, err, KindInvalid, CodeInvalidRequest)
		// Blanks are no reason either (the console trims its field; the
		// API took "   " and put it in the credential).
		for _, blank := range []string{"   ", "\t\n", "\u00a0"} {
			_, err = e.is.Approve(ctx, e.approver, p.ID, blank)
			wantErr(t, err, KindInvalid, CodeInvalidRequest)
			_, err = e.is.Deny(ctx, e.approver, p.ID, blank)
			wantErr(t, err, KindInvalid, CodeInvalidRequest)
		}
	})
	t.Run("an approver-role principal decides, and does nothing else", func(t *testing.T) {
		e := newApprovalEnv(t)
		_, p := e.ask(t)
		ak := e.newAgent(t)
		ap := e.addPrincipal(t, e.adminP, Principal{DID: ak.DID, Role: RoleApprover})
		if v, err := e.is.Approve(ctx, ap, p.ID, "ok"); err != nil || v.Status != ApprovalApproved {
			t.Fatalf("approve: %+v %v", v, err)
		}
		a := e.newAgent(t)
		r := e.request(t, a)
		r.Proof = e.proofFor(t, a, ap.DID)
		_, err := e.is.Issue(ctx, ap, r)
		wantErr(t, err, KindForbidden, CodeForbidden)
	})
	t.Run("not an approver", func(t *testing.T) {
		e := newApprovalEnv(t)
		_, p := e.ask(t)
		_, err := e.is.Approve(ctx, e.orchP, p.ID, "ok")
		wantErr(t, err, KindForbidden, CodeForbidden)
		_, err = e.is.GetApproval(ctx, e.orchP, p.ID, 0)
		wantErr(t, err, KindNotFound, CodeUnknownApproval)
	})
}

// TestSubAgentApproval: a scope the root principal marks as needing
// approval needs it again for each sub-agent it goes to; the parent agent
// collects the credential; a parent revoked meanwhile is refused.
func TestSubAgentApproval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, orch := e.newOrchestrator(t, Principal{MaxDepth: 2, NeedApproval: []string{"calendar:write"}})
	// The root agent itself waits for approval of calendar:write.
	ra := e.newAgent(t)
	r := e.request(t, ra)
	r.Proof, r.Scopes, r.TTL = e.proofFor(t, ra, orch.DID), []string{"calendar:read", "calendar:write"}, 30*time.Minute
	iss, err := e.is.Issue(ctx, orch, r)
	if err != nil || iss.Pending == nil {
		t.Fatalf("root: %+v %v", iss, err)
	}
	if _, err := e.is.Approve(ctx, e.adminP, iss.Pending.ID, "root ok"); err != nil {
		t.Fatal(err)
	}
	v, err := e.is.GetApproval(ctx, orch, iss.Pending.ID, 0)
	if err != nil || v.Issued == nil {
		t.Fatalf("root credential: %+v %v", v, err)
	}
	root := node{ra, v.Issued.Credential, v.Issued.ID}

	// A read-only child needs none.
	e.child(t, root, nil)
	// A child with calendar:write waits.
	c := e.newAgent(t)
	cr := e.childRequest(t, root.a, c)
	cr.Scopes = []string{"calendar:write"}
	got, err := e.delegate(t, root.a, root.cred, cr)
	if err != nil || got.Pending == nil || got.Pending.Requester != root.a.DID {
		t.Fatalf("child: %+v %v", got, err)
	}
	if _, err := e.is.Agent(ctx, e.adminP, c.DID); err == nil {
		t.Fatal("a pending sub-agent was registered")
	}
	// Its parent long-polls as itself while the admin approves.
	vp := root.a.Present(t, root.cred, testURL, "GET", testURL+"/v1/approvals/"+got.Pending.ID, e.clock.Now(), nil)
	done := make(chan *Approval, 1)
	go func() {
		a, err := e.is.GetApprovalAsAgent(ctx, vp, "GET", testURL+"/v1/approvals/"+got.Pending.ID, got.Pending.ID, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- a
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := e.is.Approve(ctx, e.adminP, got.Pending.ID, "child ok"); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a == nil || a.Status != ApprovalApproved || a.Issued == nil {
		t.Fatalf("parent's long poll: %+v", a)
	}
	cc := parse(t, a.Issued.Credential)
	if s := cc.CredentialSubject; len(s.Delegation) != 1 || s.Delegation[0].Holder != root.a.DID || s.Approval == nil || s.Approval.Reason != "child ok" {
		t.Fatalf("child credential subject %+v", s)
	}
	if len(cc.CredentialStatus) != 4 {
		t.Fatalf("child credential has %d status entries, want 4", len(cc.CredentialStatus))
	}
	// Another agent cannot read the parent's request.
	other := e.child(t, root, nil)
	vp = other.a.Present(t, other.cred, testURL, "GET", testURL+"/v1/approvals/"+got.Pending.ID, e.clock.Now(), nil)
	_, err = e.is.GetApprovalAsAgent(ctx, vp, "GET", testURL+"/v1/approvals/"+got.Pending.ID, got.Pending.ID, 0)
	wantErr(t, err, KindNotFound, CodeUnknownApproval)

	// A request approved after its parent's revocation is refused.
	d := e.newAgent(t)
	dr := e.childRequest(t, root.a, d)
	dr.Scopes = []string{"calendar:write"}
	got, err = e.delegate(t, root.a, root.cred, dr)
	if err != nil || got.Pending == nil {
		t.Fatalf("second child: %+v %v", got, err)
	}
	if _, err := e.is.SetStatus(ctx, e.adminP, root.id, Revoke); err != nil {
		t.Fatal(err)
	}
	_, err = e.is.Approve(ctx, e.adminP, got.Pending.ID, "too late")
	wantErr(t, err, KindConflict, Code(reason.Revoked))
}

// TestApprovalSweep: a sweep marks requests past their expiry as expired,
// durably, each with an approval.expire event by "system" and an
// "expired" event on the feed, once; it deletes decided and expired
// requests past the retention, and reports when the next pending one
// expires.
func TestApprovalSweep(t *testing.T) {
	ctx := context.Background()
	e := newApprovalEnv(t)
	feed, stop, err := e.is.SubscribeApprovals(e.approver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, p1 := e.ask(t)
	_, p2 := e.ask(t)
	_, p3 := e.ask(t)
	if _, err := e.is.Deny(ctx, e.approver, p3.ID, "not this week"); err != nil {
		t.Fatal(err)
	}
	for range 4 { // three requests, one denial
		<-feed
	}
	if n, _, next, err := e.is.SweepApprovals(ctx); err != nil || n != 0 || !next.Equal(p1.ExpiresAt) {
		t.Fatalf("sweep before expiry: %d expired, next %v, %v; want 0 and %v", n, next, err, p1.ExpiresAt)
	}

	e.clock.Advance(DefaultApprovalTTL)
	n, pruned, next, err := e.is.SweepApprovals(ctx)
	if err != nil || n != 2 || pruned != 0 || !next.IsZero() {
		t.Fatalf("sweep at expiry: %d expired, %d pruned, next %v, %v; want 2, 0, none", n, pruned, next, err)
	}
	got := map[string]bool{}
	for range 2 {
		select {
		case ev := <-feed:
			if ev.Type != ApprovalExpired || ev.Approval.Status != ApprovalExpired {
				t.Fatalf("feed event %+v", ev)
			}
			got[ev.Approval.ID] = true
		case <-time.After(time.Second):
			t.Fatal("no expired event on the feed")
		}
	}
	if !got[p1.ID] || !got[p2.ID] {
		t.Fatalf("expired events for %v, want %s and %s", got, p1.ID, p2.ID)
	}
	evs := e.events(t, audit.Filter{Action: ActionApprovalExpire})
	if len(evs) != 2 || evs[0].Actor != "system" || evs[0].Subject == "" {
		t.Fatalf("expire events %+v", evs)
	}
	_, err = e.is.Approve(ctx, e.approver, p1.ID, "too late")
	wantErr(t, err, KindConflict, CodeApprovalExpired)
	// Swept once: a second sweep changes nothing and tells nobody.
	if n, _, _, err := e.is.SweepApprovals(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep expired %d, %v", n, err)
	}
	select {
	case ev := <-feed:
		t.Fatalf("second sweep published %+v", ev)
	default:
	}

	// Past the retention every finished request is deleted; a pending one
	// made since is kept.
	e.clock.Advance(DefaultApprovalRetention + time.Second)
	_, p4 := e.ask(t)
	if _, pruned, next, err := e.is.SweepApprovals(ctx); err != nil || pruned != 3 || !next.Equal(p4.ExpiresAt) {
		t.Fatalf("sweep past retention: %d pruned, next %v, %v; want 3 and %v", pruned, next, err, p4.ExpiresAt)
	}
	_, err = e.is.GetApproval(ctx, e.req, p3.ID, 0)
	wantErr(t, err, KindNotFound, CodeUnknownApproval)
	if v, err := e.is.GetApproval(ctx, e.req, p4.ID, 0); err != nil || v.Status != ApprovalPending {
		t.Fatalf("pending approval after the sweep: %+v %v", v, err)
	}
	if len(e.events(t, audit.Filter{Action: ActionApprovalRequest})) != 4 {
		t.Fatal("the audit trail lost a request")
	}
}

// TestApprovalSweeperWakes: the sweeper announces an expiry about a
// second after it, for a request made after the sweeper started.
func TestApprovalSweeperWakes(t *testing.T) {
	e := newApprovalEnv(t)
	e.is.cfg.ApprovalTTL = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.is.RunApprovalSweeper(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // the first sweep found nothing pending: its next wake is a minute away
	feed, stop, err := e.is.SubscribeApprovals(e.approver)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, p := e.ask(t)
	<-feed // pending
	// The test clock jumps to the expiry; the sweeper, re-armed by the
	// request for 0.5 s + 1 s, then finds it expired.
	e.clock.Advance(500 * time.Millisecond)
	start := time.Now()
	select {
	case ev := <-feed:
		if ev.Type != ApprovalExpired || ev.Approval.ID != p.ID {
			t.Fatalf("feed event %+v", ev)
		}
		t.Logf("expired event %v after the request", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the sweeper did not announce the expiry")
	}
}

// TestSubAgentApprovalNotByItsTreesPrincipal: an orchestrator that may
// approve others' requests does not approve a request of its own tree (a
// sub-agent asked for by one of its agents, whose approval its own
// NeedApproval demands): approval_self, audited, nothing issued. Before,
// only the requester (the parent agent) was refused, so such an
// orchestrator granted its agents' sub-agents the scopes it marked as
// needing someone else's yes.
func TestSubAgentApprovalNotByItsTreesPrincipal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, orch := e.newOrchestrator(t, Principal{MaxDepth: 1, NeedApproval: []string{"calendar:write"}, Approver: true})
	ra := e.newAgent(t)
	r := e.request(t, ra)
	r.Proof, r.Scopes, r.TTL = e.proofFor(t, ra, orch.DID), []string{"calendar:read", "calendar:write"}, 30*time.Minute
	iss, err := e.is.Issue(ctx, orch, r)
	if err != nil || iss.Pending == nil {
		t.Fatalf("root: %+v %v", iss, err)
	}
	if _, err := e.is.Approve(ctx, e.adminP, iss.Pending.ID, "root ok"); err != nil {
		t.Fatal(err)
	}
	v, err := e.is.GetApproval(ctx, orch, iss.Pending.ID, 0)
	if err != nil || v.Issued == nil {
		t.Fatalf("root credential: %+v %v", v, err)
	}
	root := node{ra, v.Issued.Credential, v.Issued.ID}
	c := e.newAgent(t)
	cr := e.childRequest(t, root.a, c)
	cr.Scopes = []string{"calendar:write"}
	got, err := e.delegate(t, root.a, root.cred, cr)
	if err != nil || got.Pending == nil || got.Pending.Requester != root.a.DID {
		t.Fatalf("child: %+v %v", got, err)
	}

	_, err = e.is.Approve(ctx, orch, got.Pending.ID, "my own tree")
	wantErr(t, err, KindForbidden, CodeSelfApproval)
	_, err = e.is.Deny(ctx, orch, got.Pending.ID, "my own tree")
	wantErr(t, err, KindForbidden, CodeSelfApproval)
	if evs := e.events(t, audit.Filter{Actor: orch.DID, Action: ActionApprovalApprove, Decision: audit.DecisionDeny}); len(evs) != 1 || evs[0].Reason != string(CodeSelfApproval) {
		t.Fatalf("refusal not audited: %+v", evs)
	}
	if _, err := e.is.Agent(ctx, e.adminP, c.DID); err == nil {
		t.Fatal("the sub-agent was registered")
	}
	if v, err := e.is.Approve(ctx, e.adminP, got.Pending.ID, "ok"); err != nil || v.Status != ApprovalApproved {
		t.Fatalf("admin approve: %+v %v", v, err)
	}
}
