package issuer

import (
	"context"
	"slices"
	"testing"
	"time"
)

// dids returns the sorted DIDs of agents.
func dids(agents []Agent) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.DID
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestAgents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, o2P := e.newOrchestrator(t, Principal{})

	// Agents created one minute apart, so that the listing order is fixed.
	long := func(r *IssueRequest) { r.TTL = time.Duration(time.Hour) }
	adminAgent, _ := e.issue(t, e.adminP, long) // active, TTL 1h
	e.clock.Advance(time.Minute)
	active, _ := e.issue(t, e.orchP, long) // stays active
	e.clock.Advance(time.Minute)
	suspended, susIss := e.issue(t, e.orchP, long)
	e.clock.Advance(time.Minute)
	revoked, revIss := e.issue(t, e.orchP, long)
	e.clock.Advance(time.Minute)
	expiring, _ := e.issue(t, e.orchP, nil) // TTL 15m: expires
	e.clock.Advance(time.Minute)
	retired, _ := e.issue(t, o2P, long)
	e.clock.Advance(time.Minute)
	o2Active, _ := e.issue(t, o2P, long)

	if _, err := e.is.SetStatus(ctx, e.orchP, susIss.ID, Suspend); err != nil {
		t.Fatal(err)
	}
	if _, err := e.is.SetStatus(ctx, e.adminP, revIss.ID, Revoke); err != nil {
		t.Fatal(err)
	}
	if _, err := e.is.Retire(ctx, o2P, retired.DID); err != nil {
		t.Fatal(err)
	}
	// Twenty minutes on: "expiring" has expired. "active" was seen by the
	// verifier service five minutes ago.
	e.clock.Advance(20 * time.Minute)
	e.is.Seen(active.DID, e.clock.Now().Add(-5*time.Minute))
	e.is.Seen(o2Active.DID, e.clock.Now().Add(-15*time.Minute))

	wantStatus := map[string]string{
		adminAgent.DID: StatusActive, active.DID: StatusActive, suspended.DID: StatusSuspended,
		revoked.DID: StatusRevoked, expiring.DID: StatusExpired, retired.DID: StatusRetired, o2Active.DID: StatusActive,
	}
	all, err := e.is.Agents(ctx, e.adminP, AgentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(wantStatus) {
		t.Fatalf("admin sees %d agents, want %d", len(all), len(wantStatus))
	}
	for i, a := range all {
		if a.Status != wantStatus[a.DID] {
			t.Errorf("%s: status %q, want %q", a.DID, a.Status, wantStatus[a.DID])
		}
		if i > 0 && a.CreatedAt.Before(all[i-1].CreatedAt) {
			t.Errorf("not sorted by creation time at %d", i)
		}
		one, err := e.is.Agent(ctx, e.adminP, a.DID)
		if err != nil || one.Status != a.Status {
			t.Errorf("Agent(%s) = %+v, %v", a.DID, one, err)
		}
	}
	if all[0].DID != adminAgent.DID || all[len(all)-1].DID != o2Active.DID {
		t.Errorf("order: first %s, last %s", all[0].DID, all[len(all)-1].DID)
	}
	if got := all[1]; got.LastSeen == nil || !got.LastSeen.Equal(e.clock.Now().Add(-5*time.Minute)) {
		t.Errorf("last seen of %s = %v", got.DID, got.LastSeen)
	}

	tests := []struct {
		name  string
		actor *Principal
		f     AgentFilter
		want  []string
	}{
		{"orchestrator sees its own", e.orchP, AgentFilter{}, sorted(active.DID, suspended.DID, revoked.DID, expiring.DID)},
		{"orchestrator cannot widen", e.orchP, AgentFilter{CreatedBy: o2P.DID}, sorted(active.DID, suspended.DID, revoked.DID, expiring.DID)},
		{"other orchestrator", o2P, AgentFilter{}, sorted(retired.DID, o2Active.DID)},
		{"admin by creator", e.adminP, AgentFilter{CreatedBy: o2P.DID}, sorted(retired.DID, o2Active.DID)},
		{"active", e.adminP, AgentFilter{Status: StatusActive}, sorted(adminAgent.DID, active.DID, o2Active.DID)},
		{"suspended", e.adminP, AgentFilter{Status: StatusSuspended}, sorted(suspended.DID)},
		{"revoked", e.adminP, AgentFilter{Status: StatusRevoked}, sorted(revoked.DID)},
		{"expired status", e.adminP, AgentFilter{Status: StatusExpired}, sorted(expiring.DID)},
		{"retired", e.adminP, AgentFilter{Status: StatusRetired}, sorted(retired.DID)},
		{"orchestrator's active", e.orchP, AgentFilter{Status: StatusActive}, sorted(active.DID)},
		{"expired", e.adminP, AgentFilter{Expired: true}, sorted(expiring.DID)},
		// Dormant: not seen (or created) within DormantFor, not retired.
		{"dormant 10m", e.adminP, AgentFilter{Dormant: true, DormantFor: 10 * time.Minute},
			sorted(adminAgent.DID, suspended.DID, revoked.DID, expiring.DID, o2Active.DID)},
		{"dormant 22m", e.adminP, AgentFilter{Dormant: true, DormantFor: 22 * time.Minute},
			sorted(adminAgent.DID, suspended.DID, revoked.DID, expiring.DID)},
		{"dormant default 7 days", e.adminP, AgentFilter{Dormant: true}, []string{}},
		{"orchestrator's dormant", e.orchP, AgentFilter{Dormant: true, DormantFor: 10 * time.Minute},
			sorted(suspended.DID, revoked.DID, expiring.DID)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.is.Agents(ctx, tc.actor, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := dids(got); !slices.Equal(g, tc.want) {
				t.Errorf("got %d agents %v, want %d %v", len(g), g, len(tc.want), tc.want)
			}
		})
	}

	// The listing expires with the clock.
	e.clock.Advance(time.Hour)
	exp, err := e.is.Agents(ctx, e.adminP, AgentFilter{Expired: true})
	if err != nil {
		t.Fatal(err)
	}
	if g, want := dids(exp), sorted(adminAgent.DID, active.DID, suspended.DID, revoked.DID, expiring.DID, o2Active.DID); !slices.Equal(g, want) {
		t.Errorf("expired an hour later: %v, want %v", g, want)
	}

	// Orchestrators do not see other principals' agents one by one either.
	_, err = e.is.Agent(ctx, e.orchP, o2Active.DID)
	wantErr(t, err, KindNotFound, CodeUnknownAgent)
	_, err = e.is.Agent(ctx, e.adminP, e.newAgent(t).DID)
	wantErr(t, err, KindNotFound, CodeUnknownAgent)

	states, err := e.is.AgentStates(ctx)
	if err != nil || len(states) != len(wantStatus) {
		t.Fatalf("AgentStates = %d, %v", len(states), err)
	}
}
