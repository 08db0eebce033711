package issuer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
)

func TestSetStatus(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, iss := e.issue(t, e.orchP, nil)
	c := parse(t, iss.Credential)
	rev, sus := entry(t, c, statuslist.Revocation), entry(t, c, statuslist.Suspension)
	check := e.is.StatusChecker()

	type state struct {
		rev, sus bool
		agent    string
		code     reason.Code // of the status check; "" when clear
	}
	steps := []struct {
		action StatusAction
		actor  *Principal
		want   state
	}{
		{Suspend, e.orchP, state{false, true, StatusSuspended, reason.Suspended}},
		{Suspend, e.adminP, state{false, true, StatusSuspended, reason.Suspended}}, // idempotent
		{Reinstate, e.adminP, state{false, false, StatusActive, ""}},
		{Reinstate, e.orchP, state{false, false, StatusActive, ""}}, // idempotent
		{Suspend, e.adminP, state{false, true, StatusSuspended, reason.Suspended}},
		{Revoke, e.adminP, state{true, true, StatusRevoked, reason.Revoked}},
		{Revoke, e.orchP, state{true, true, StatusRevoked, reason.Revoked}}, // idempotent
	}
	for i, s := range steps {
		rec, err := e.is.SetStatus(ctx, s.actor, iss.ID, s.action)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, s.action, err)
		}
		if rec.ID != iss.ID || rec.Revoked != s.want.rev || rec.Suspended != s.want.sus {
			t.Errorf("step %d %s: record = %+v", i, s.action, rec)
		}
		if got := e.bit(t, rev); got != s.want.rev {
			t.Errorf("step %d %s: revocation bit = %v", i, s.action, got)
		}
		if got := e.bit(t, sus); got != s.want.sus {
			t.Errorf("step %d %s: suspension bit = %v", i, s.action, got)
		}
		ag, err := e.is.Agent(ctx, e.adminP, a.DID)
		if err != nil || ag.Status != s.want.agent {
			t.Errorf("step %d %s: agent status = %v (%v), want %s", i, s.action, ag.Status, err, s.want.agent)
		}
		err = check.Check(ctx, testDID, c.CredentialStatus)
		if code, _ := reason.CodeOf(err); code != s.want.code {
			t.Errorf("step %d %s: status check = %v, want %q", i, s.action, err, s.want.code)
		}
		if stored, ok := e.credential(t, iss.ID); !ok || stored.Revoked != s.want.rev || stored.Suspended != s.want.sus {
			t.Errorf("step %d %s: stored record = %+v", i, s.action, stored)
		}
	}

	// Revocation is final.
	for _, action := range []StatusAction{Reinstate, Suspend} {
		_, err := e.is.SetStatus(ctx, e.adminP, iss.ID, action)
		wantErr(t, err, KindConflict, CodeIrreversible)
		if !e.bit(t, rev) {
			t.Fatalf("%s cleared the revocation bit", action)
		}
	}
	if !e.bit(t, sus) {
		t.Error("a refused reinstate cleared the suspension bit")
	}

	allow := func(action string) int {
		return len(e.events(t, audit.Filter{Action: action, Decision: audit.DecisionAllow, Agent: a.DID}))
	}
	if allow(audit.ActionCredentialSuspend) != 3 || allow(audit.ActionCredentialReinstate) != 2 || allow(audit.ActionCredentialRevoke) != 2 {
		t.Errorf("allow events: suspend %d reinstate %d revoke %d", allow(audit.ActionCredentialSuspend),
			allow(audit.ActionCredentialReinstate), allow(audit.ActionCredentialRevoke))
	}
	denies := e.events(t, audit.Filter{Decision: audit.DecisionDeny})
	if len(denies) != 2 || denies[0].Reason != string(CodeIrreversible) || denies[0].Credential != iss.ID {
		t.Errorf("deny events = %+v", denies)
	}
	e.verifyAudit(t)
}

// TestSetStatusRefused: each refusal has its code and sets no bit. An
// orchestrator's request about a credential of an agent it did not create
// is answered as one about a credential that does not exist
// (unknown_credential), so that it learns nothing of others' credentials.
func TestSetStatusRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, mine := e.issue(t, e.orchP, nil)
	_, admins := e.issue(t, e.adminP, nil)
	_, other := e.newOrchestrator(t, Principal{})
	_, others := e.issue(t, other, nil)

	for _, tc := range []struct {
		name   string
		actor  *Principal
		id     string
		action StatusAction
		status Kind
		code   Code
	}{
		{"orchestrator revokes an admin's agent", e.orchP, admins.ID, Revoke, KindNotFound, CodeUnknownCredential},
		{"orchestrator suspends another's agent", e.orchP, others.ID, Suspend, KindNotFound, CodeUnknownCredential},
		{"orchestrator reinstates another's agent", other, mine.ID, Reinstate, KindNotFound, CodeUnknownCredential},
		{"unknown credential", e.adminP, "urn:uuid:00000000-0000-4000-8000-000000000000", Revoke, KindNotFound, CodeUnknownCredential},
		{"unknown credential for orchestrator", e.orchP, "urn:uuid:00000000-0000-4000-8000-000000000000", Suspend, KindNotFound, CodeUnknownCredential},
		{"empty id", e.adminP, "", Revoke, KindNotFound, CodeUnknownCredential},
		{"unknown action", e.adminP, mine.ID, "delete", KindInvalid, CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.is.SetStatus(ctx, tc.actor, tc.id, tc.action)
			wantErr(t, err, tc.status, tc.code)
			for _, iss := range []*Issued{mine, admins, others} {
				c := parse(t, iss.Credential)
				for _, p := range purposes {
					if e.bit(t, entry(t, c, p)) {
						t.Errorf("%s bit of %s set by a refused change", p, iss.ID)
					}
				}
			}
		})
	}
	e.verifyAudit(t)
}

func TestRetire(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, first := e.issue(t, e.orchP, nil)
	e.clock.Advance(5 * time.Minute)
	second, err := e.is.Refresh(ctx, e.refreshVP(t, a, first.Credential), "POST", refreshURL)
	if err != nil {
		t.Fatal(err)
	}
	// One credential already revoked: retiring skips it.
	if _, err := e.is.SetStatus(ctx, e.adminP, first.ID, Revoke); err != nil {
		t.Fatal(err)
	}
	_, bystander := e.issue(t, e.orchP, nil)

	_, other := e.newOrchestrator(t, Principal{})
	// Another orchestrator is told nothing about the agent's existence.
	_, err = e.is.Retire(ctx, other, a.DID)
	wantErr(t, err, KindNotFound, CodeUnknownAgent)
	_, err = e.is.Retire(ctx, e.orchP, e.newAgent(t).DID)
	wantErr(t, err, KindNotFound, CodeUnknownAgent)

	e.clock.Advance(time.Minute)
	ag, err := e.is.Retire(ctx, e.orchP, a.DID)
	if err != nil {
		t.Fatal(err)
	}
	if !ag.Retired || ag.RetiredAt == nil || !ag.RetiredAt.Equal(e.clock.Now()) || ag.Status != StatusRetired {
		t.Errorf("retired agent = %+v", ag)
	}
	for _, iss := range []*Issued{first, second} {
		c := parse(t, iss.Credential)
		if !e.bit(t, entry(t, c, statuslist.Revocation)) {
			t.Errorf("credential %s not revoked", iss.ID)
		}
		if rec, _ := e.credential(t, iss.ID); !rec.Revoked {
			t.Errorf("record of %s not revoked", iss.ID)
		}
		if err := e.is.StatusChecker().Check(ctx, testDID, c.CredentialStatus); !errors.Is(err, reason.Revoked) {
			t.Errorf("status check of %s = %v", iss.ID, err)
		}
	}
	if e.bit(t, entry(t, parse(t, bystander.Credential), statuslist.Revocation)) {
		t.Error("retire revoked another agent's credential")
	}
	got, err := e.is.Agent(ctx, e.adminP, a.DID)
	if err != nil || got.Status != StatusRetired || !got.Retired {
		t.Errorf("agent = %+v (%v)", got, err)
	}

	// Retired twice, then registered again: both refused.
	_, err = e.is.Retire(ctx, e.adminP, a.DID)
	wantErr(t, err, KindConflict, CodeAgentRetired)
	r := e.request(t, a)
	r.Proof = e.proofFor(t, a, e.admin.DID)
	_, err = e.is.Issue(ctx, e.adminP, r)
	wantErr(t, err, KindConflict, CodeAgentExists)

	// Suspending a credential of a retired agent changes nothing that
	// matters; reinstating its revoked credentials is refused.
	_, err = e.is.SetStatus(ctx, e.adminP, second.ID, Reinstate)
	wantErr(t, err, KindConflict, CodeIrreversible)

	if evs := e.events(t, audit.Filter{Action: audit.ActionAgentRetire, Decision: audit.DecisionAllow, Agent: a.DID}); len(evs) != 1 || evs[0].Actor != e.orch.DID {
		t.Errorf("audit = %+v", evs)
	}
	if evs := e.events(t, audit.Filter{Action: audit.ActionAgentRetire, Decision: audit.DecisionDeny}); len(evs) != 3 {
		t.Errorf("deny events = %+v", evs)
	}
	e.verifyAudit(t)
}
