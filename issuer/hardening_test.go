package issuer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
)

// TestIngestOnlyOwnAgents: an orchestrator reports only about agents it
// created; an admin about any. A refusal appends nothing.
func TestIngestOnlyOwnAgents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	own, _ := e.issue(t, e.orchP, nil)
	other, otherP := e.newOrchestrator(t, Principal{})
	_ = other
	theirs, _ := e.issue(t, otherP, func(r *IssueRequest) {})
	line := func(subject string) []byte {
		return []byte(`{"action":"verify","subject":"` + subject + `","decision":"allow"}`)
	}
	for _, tc := range []struct {
		name    string
		actor   *Principal
		subject string
		code    Code
	}{
		{"own agent", e.orchP, own.DID, ""},
		{"no subject", e.orchP, "", ""},
		{"another orchestrator's agent", e.orchP, theirs.DID, CodeForbidden},
		{"unknown agent", e.orchP, "did:key:z6MkUnknown", CodeForbidden},
		{"admin, any agent", e.adminP, theirs.DID, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.events(t, audit.Filter{Action: audit.ActionVerify}))
			body := append(line(own.DID), '\n')
			body = append(body, line(tc.subject)...)
			n, err := e.is.IngestAudit(ctx, tc.actor, body)
			after := len(e.events(t, audit.Filter{Action: audit.ActionVerify}))
			if tc.code == "" {
				if err != nil || n != 2 || after != before+2 {
					t.Fatalf("n=%d err=%v, %d events appended", n, err, after-before)
				}
				return
			}
			ie := wantErr(t, err, KindForbidden, tc.code)
			if !strings.HasPrefix(ie.Detail, "line 2:") || after != before {
				t.Fatalf("detail %q, %d events appended", ie.Detail, after-before)
			}
		})
	}
}

// TestIngestClampsTimeAndMarksReported: a reported time outside the
// issuer's clock ± IngestSkew is clamped, the claimed time kept in detail,
// and every ingested event is Reported even when the line says otherwise.
func TestIngestClampsTimeAndMarksReported(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, _ := e.issue(t, e.orchP, nil)
	now := e.clock.Now().UTC()
	body := `{"time":"2099-01-01T00:00:00Z","action":"verify","subject":"` + a.DID + `","decision":"allow","reported":false}
{"time":"2000-01-01T00:00:00Z","action":"verify","subject":"` + a.DID + `","decision":"allow","detail":"d"}
{"time":"` + now.Add(-time.Minute).Format(time.RFC3339) + `","action":"verify","subject":"` + a.DID + `","decision":"allow"}`
	if _, err := e.is.IngestAudit(ctx, e.orchP, []byte(body)); err != nil {
		t.Fatal(err)
	}
	evs := e.events(t, audit.Filter{Action: audit.ActionVerify})
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	want := []struct {
		time   time.Time
		detail string
	}{
		{now.Add(IngestSkew), "reported time: 2099-01-01T00:00:00Z"},
		{now.Add(-IngestSkew), "reported time: 2000-01-01T00:00:00Z; d"},
		{now.Add(-time.Minute), ""},
	}
	for i, ev := range evs {
		if !ev.Time.Equal(want[i].time) || ev.Detail != want[i].detail || !ev.Reported {
			t.Errorf("event %d: time %v detail %q reported %v; want %v %q true", i, ev.Time, ev.Detail, ev.Reported, want[i].time, want[i].detail)
		}
	}
	e.verifyAudit(t)

	// Eight days later the agent is dormant: the reported events, one of
	// them dated as late as the clamp allows, do not count as activity.
	e.clock.Advance(8 * 24 * time.Hour)
	sum, err := e.is.AuditSummary(ctx, e.adminP, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, st := range sum.DormantAgents {
		found = found || st.DID == a.DID
	}
	for _, st := range sum.ExpiredNotRetired {
		found = found || st.DID == a.DID
	}
	if !found {
		t.Fatalf("agent neither dormant nor expired after reported events: %+v", sum)
	}
}

// TestRemovePrincipalOrphansItsAgents: removing a principal suspends its
// agents' credentials with an admin's hold, refuses their refresh and
// shows them as orphaned, even when the principal is registered again.
func TestRemovePrincipalOrphansItsAgents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	orch, orchP := e.newOrchestrator(t, Principal{})
	a, iss := e.issue(t, orchP, nil)
	kept, keptIss := e.issue(t, e.orchP, nil)

	if err := e.is.RemovePrincipal(ctx, e.adminP, orch.DID); err != nil {
		t.Fatal(err)
	}
	_, err := e.is.Refresh(ctx, e.refreshVP(t, a, iss.Credential), "POST", refreshURL)
	// The credential is suspended: the verifier refuses it first.
	wantErr(t, err, KindForbidden, Code(reason.Suspended))
	c, _ := e.credential(t, iss.ID)
	if !c.Suspended || c.SuspendedBy != e.admin.DID || !e.bit(t, entry(t, parse(t, iss.Credential), "suspension")) {
		t.Fatalf("credential after removal: %+v", c)
	}
	ag, err := e.is.Agent(ctx, e.adminP, a.DID)
	if err != nil || ag.Status != StatusOrphaned {
		t.Fatalf("agent status %q (%v), want orphaned", ag.Status, err)
	}

	// Registered again, the principal does not adopt its agents: even once
	// an admin lifts the suspension, refresh is refused.
	e.clock.Advance(time.Second)
	orchP2 := e.addPrincipal(t, e.adminP, Principal{DID: orch.DID, Role: RoleOrchestrator, Ceiling: []string{"calendar:*"}})
	_, err = e.is.SetStatus(ctx, orchP2, iss.ID, Reinstate)
	wantErr(t, err, KindForbidden, CodeForbidden)
	if _, err := e.is.SetStatus(ctx, e.adminP, iss.ID, Reinstate); err != nil {
		t.Fatal(err)
	}
	_, err = e.is.Refresh(ctx, e.refreshVP(t, a, iss.Credential), "POST", refreshURL)
	wantErr(t, err, KindForbidden, CodePrincipalRemoved)
	if ag, _ := e.is.Agent(ctx, e.adminP, a.DID); ag.Status != StatusOrphaned {
		t.Fatalf("status %q after re-registration, want orphaned", ag.Status)
	}

	// Another principal's agent is untouched.
	if _, err := e.is.Refresh(ctx, e.refreshVP(t, kept, keptIss.Credential), "POST", refreshURL); err != nil {
		t.Fatalf("unrelated agent: %v", err)
	}
}

// TestReinstateNeedsSuspendingRole: a suspension is lifted by the role that
// imposed it or a higher one.
func TestReinstateNeedsSuspendingRole(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, iss := e.issue(t, e.orchP, nil)
	step := func(actor *Principal, action StatusAction) error {
		_, err := e.is.SetStatus(ctx, actor, iss.ID, action)
		return err
	}
	// Its own suspension, an orchestrator lifts.
	for _, s := range []struct {
		actor  *Principal
		action StatusAction
	}{{e.orchP, Suspend}, {e.orchP, Reinstate}} {
		if err := step(s.actor, s.action); err != nil {
			t.Fatalf("%s: %v", s.action, err)
		}
	}
	// An admin's, it does not; nor after suspending again itself.
	if err := step(e.adminP, Suspend); err != nil {
		t.Fatal(err)
	}
	if err := step(e.orchP, Suspend); err != nil {
		t.Fatal(err)
	}
	wantErr(t, step(e.orchP, Reinstate), KindForbidden, CodeForbidden)
	if c, _ := e.credential(t, iss.ID); !c.Suspended || c.SuspendedBy != e.admin.DID {
		t.Fatalf("record after refused reinstate: %+v", c)
	}
	if err := step(e.adminP, Reinstate); err != nil {
		t.Fatal(err)
	}
	// A suspension recorded by an earlier release names no role: only an
	// admin lifts it.
	if err := e.is.db.Update(ctx, func(tx store.Tx) error {
		var c credentialRecord
		if _, err := getJSON(tx, bucketCredentials, iss.ID, &c); err != nil {
			return err
		}
		c.Suspended, c.SuspendedBy, c.SuspendedRole = true, "", ""
		return putJSON(tx, bucketCredentials, c.ID, c)
	}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, step(e.orchP, Reinstate), KindForbidden, CodeForbidden)
	if err := step(e.adminP, Reinstate); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshRateLimited: a burst of RefreshBurst refreshes, then one per
// RefreshInterval; the refusal says when to retry.
func TestRefreshRateLimited(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, iss := e.issue(t, e.orchP, nil)
	cur := iss.Credential
	for i := range 5 {
		got, err := e.is.Refresh(ctx, e.refreshVP(t, a, cur), "POST", refreshURL)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		cur = got.Credential
	}
	_, err := e.is.Refresh(ctx, e.refreshVP(t, a, cur), "POST", refreshURL)
	ie := wantErr(t, err, KindRateLimited, CodeRateLimited)
	if ie.RetryAfter != 30*time.Second || !strings.Contains(ie.Detail, "retry after 30s") {
		t.Fatalf("RetryAfter %v, detail %q", ie.RetryAfter, ie.Detail)
	}
	if n := len(e.events(t, audit.Filter{Action: audit.ActionCredentialRefresh, Decision: audit.DecisionDeny})); n != 1 {
		t.Fatalf("%d refusals audited, want 1", n)
	}
	e.clock.Advance(29 * time.Second)
	_, err = e.is.Refresh(ctx, e.refreshVP(t, a, cur), "POST", refreshURL)
	if ie := wantErr(t, err, KindRateLimited, CodeRateLimited); ie.RetryAfter != time.Second {
		t.Fatalf("RetryAfter %v, want 1s", ie.RetryAfter)
	}
	e.clock.Advance(time.Second)
	if _, err := e.is.Refresh(ctx, e.refreshVP(t, a, cur), "POST", refreshURL); err != nil {
		t.Fatal(err)
	}
}

// agentRecordSize is the stored size of an agent record.
func (e *env) agentRecordSize(tb testing.TB, agentDID string) int {
	tb.Helper()
	n := 0
	if err := e.db.View(context.Background(), func(tx store.Tx) error {
		n = len(tx.Bucket(bucketAgents).Get([]byte(agentDID)))
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestRefreshRecordConstant: refreshes do not grow the agent record; the
// credentials are listed from the per-agent index, oldest first, and Retire
// revokes them all, including those an old record still lists.
func TestRefreshRecordConstant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, iss := e.issue(t, e.orchP, nil)

	// Make it a record of the first release: the credential list inside,
	// no index.
	if err := e.is.db.Update(ctx, func(tx store.Tx) error {
		var r agentRecord
		if _, err := getJSON(tx, bucketAgents, a.DID, &r); err != nil {
			return err
		}
		r.Credentials, r.Issued = []string{iss.ID}, 0
		if err := tx.Bucket(bucketAgentCredentials).Delete(agentCredentialKey(a.DID, iss.ID)); err != nil {
			return err
		}
		return putJSON(tx, bucketAgents, a.DID, r)
	}); err != nil {
		t.Fatal(err)
	}
	if ag, err := e.is.Agent(ctx, e.adminP, a.DID); err != nil || len(ag.Credentials) != 1 || ag.Credentials[0] != iss.ID {
		t.Fatalf("old record: %+v %v", ag, err)
	}

	ids := []string{iss.ID}
	cur := iss.Credential
	var size int
	const n = 12
	for i := range n {
		e.clock.Advance(30 * time.Second)
		got, err := e.is.Refresh(ctx, e.refreshVP(t, a, cur), "POST", refreshURL)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		cur = got.Credential
		ids = append(ids, got.ID)
		s := e.agentRecordSize(t, a.DID)
		if i == 0 {
			size = s
		} else if s > size+2 {
			// Only the issue counter's digits may grow.
			t.Fatalf("agent record is %d bytes after refresh %d, %d after the first", s, i, size)
		}
	}
	ag, err := e.is.Agent(ctx, e.adminP, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ag.Credentials, " ") != strings.Join(ids, " ") {
		t.Fatalf("credentials\n got %q\nwant %q", ag.Credentials, ids)
	}
	if _, err := e.is.Retire(ctx, e.adminP, a.DID); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if c, _ := e.credential(t, id); !c.Revoked {
			t.Fatalf("credential %s not revoked by Retire", id)
		}
	}
}

// TestProofNamesPrincipal: a proof of control made for one principal, or
// for none, does not register the agent through another.
func TestProofNamesPrincipal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		fix  func(*vc.Presentation)
	}{
		{"made for the admin", func(p *vc.Presentation) { p.For = e.admin.DID }},
		{"names no principal", func(p *vc.Presentation) { p.For = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.newAgent(t)
			r := e.request(t, a)
			r.Proof = a.Present(t, "", testURL, "", "", e.clock.Now(), func(p *vc.Presentation) {
				p.Nonce = e.is.Nonce()
				tc.fix(p)
			})
			_, err := e.is.Issue(ctx, e.orchP, r)
			wantErr(t, err, KindInvalid, CodeProofPrincipal)
			if _, err := e.is.Agent(ctx, e.adminP, a.DID); err == nil {
				t.Fatal("agent registered")
			}
		})
	}
}

// TestAuthenticateBodyDigest: a request presentation with htd binds the
// body.
func TestAuthenticateBodyDigest(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	url := testURL + "/v1/agents"
	body := []byte(`{"agent":"did:key:z6Mk"}`)
	vp := func(htd string) string {
		return e.orch.Present(t, "", testURL, "POST", url, e.clock.Now(), func(p *vc.Presentation) { p.Htd = htd })
	}
	if _, err := e.is.Authenticate(ctx, vp(BodyDigest(body)), "POST", url, body); err != nil {
		t.Fatalf("matching htd: %v", err)
	}
	if _, err := e.is.Authenticate(ctx, vp(BodyDigest(nil)), "GET", url, nil); err == nil {
		t.Fatal("wrong method accepted")
	}
	if _, err := e.is.Authenticate(ctx, e.orch.Present(t, "", testURL, "GET", url, e.clock.Now(), func(p *vc.Presentation) { p.Htd = BodyDigest(nil) }), "GET", url, nil); err != nil {
		t.Fatalf("htd of no body: %v", err)
	}
	tampered := []byte(`{"agent":"did:key:z6Mx"}`)
	_, err := e.is.Authenticate(ctx, vp(BodyDigest(body)), "POST", url, tampered)
	wantErr(t, err, KindUnauthenticated, Code(reason.RequestMismatch))
	_, err = e.is.Authenticate(ctx, vp("not-a-digest"), "POST", url, body)
	wantErr(t, err, KindUnauthenticated, Code(reason.RequestMismatch))
	// Without htd, the body is not bound (older clients).
	if _, err := e.is.Authenticate(ctx, vp(""), "POST", url, tampered); err != nil {
		t.Fatalf("no htd: %v", err)
	}
}
