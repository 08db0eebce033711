package auditlog

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/agentid/agentid/store"

	"github.com/agentid/agentid/audit"
)

// summaryFixture builds a log with one agent per anomaly rule, read by a
// fixed clock at now. The window starts at since = now - 1h.
func summaryFixture(t *testing.T) (l *Log, now, since time.Time) {
	t.Helper()
	now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	since = now.Add(-time.Hour)
	db := openDB(t, true)
	l, err := Open(db, &Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*audit.Event
	add := func(agent, resource string, at time.Time, decision, reason string) {
		ev := verifyEvent(agent, at, decision, reason)
		ev.Resource = resource
		evs = append(evs, ev)
	}
	// A: baseline 1/min (100 events over the 100 minutes before the
	// window), then 30 in one minute: a spike.
	for i := range 100 {
		add("did:key:A", "https://a.example", since.Add(-100*time.Minute+time.Duration(i)*time.Minute), audit.DecisionAllow, "")
	}
	for i := range 30 {
		add("did:key:A", "https://a.example", since.Add(30*time.Minute+time.Duration(i)*time.Second), audit.DecisionAllow, "")
	}
	// A2: baseline 10/min, then 30 in one minute: within 5x, no spike.
	for i := range 1000 {
		add("did:key:A2", "https://a.example", since.Add(-100*time.Minute+time.Duration(i)*6*time.Second), audit.DecisionAllow, "")
	}
	for i := range 30 {
		add("did:key:A2", "https://a.example", since.Add(30*time.Minute+time.Duration(i)*time.Second), audit.DecisionAllow, "")
	}
	// B: denials of every interesting kind on a known resource.
	add("did:key:B", "https://b.example", since.Add(-time.Hour), audit.DecisionAllow, "")
	for _, r := range []string{"revoked", "revoked", "suspended", "insufficient_scope", "insufficient_scope", "expired"} {
		add("did:key:B", "https://b.example", since.Add(10*time.Minute), audit.DecisionDeny, r)
	}
	add("did:key:B", "https://b.example", since.Add(11*time.Minute), audit.DecisionAllow, "")
	// C: one known resource, two new ones.
	add("did:key:C", "https://r1.example", since.Add(-2*time.Hour), audit.DecisionAllow, "")
	for _, r := range []string{"https://r1.example", "https://r2.example", "https://r3.example", "https://r2.example"} {
		add("did:key:C", r, since.Add(20*time.Minute), audit.DecisionAllow, "")
	}
	// D: a new, quiet agent: 5 requests in one minute, under the minimum.
	for range 5 {
		add("did:key:D", "https://d.example", since.Add(40*time.Minute), audit.DecisionAllow, "")
	}
	// E: a new agent bursting 25 requests in one minute.
	for range 25 {
		add("did:key:E", "https://e.example", since.Add(50*time.Minute), audit.DecisionAllow, "")
	}
	// Inventory-related events: G used yesterday, J retired.
	add("did:key:G", "https://g.example", now.Add(-24*time.Hour), audit.DecisionAllow, "")
	evs = append(evs,
		&audit.Event{Time: now.Add(-48 * time.Hour), Action: audit.ActionAgentRetire, Subject: "did:key:J", Decision: audit.DecisionAllow},
		&audit.Event{Time: since.Add(time.Minute), Action: audit.ActionPrincipalAdd, Actor: "did:web:admin", Decision: audit.DecisionAllow},
	)
	err = db.Update(t.Context(), func(tx store.Tx) error {
		for _, ev := range evs {
			if err := l.AppendTx(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, now, since
}

func TestSummary(t *testing.T) {
	l, now, since := summaryFixture(t)
	day := 24 * time.Hour
	inventory := []audit.AgentState{
		{DID: "did:key:F", LastSeen: now.Add(-10 * day)},                                  // dormant
		{DID: "did:key:G", LastSeen: now.Add(-10 * day)},                                  // used yesterday per the log
		{DID: "did:key:H", LastSeen: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Hour)}, // expired, not retired
		{DID: "did:key:I", ExpiresAt: now.Add(-time.Hour), Retired: true},                 // expired, retired
		{DID: "did:key:J", ExpiresAt: now.Add(-time.Hour)},                                // expired, retired per the log
		{DID: "did:key:K"}, // never used: dormant
		{DID: "did:key:L", LastSeen: now.Add(-time.Hour)},                        // active
		{DID: "did:key:M", LastSeen: now.Add(-8 * day), ExpiresAt: now.Add(day)}, // dormant
	}
	s, err := l.Summary(t.Context(), since, audit.SummaryOptions{Agents: inventory})
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]audit.AgentSummary{}
	var order []string
	for _, a := range s.Agents {
		agents[a.Agent] = a
		order = append(order, a.Agent)
	}

	t.Run("window", func(t *testing.T) {
		if !s.Since.Equal(since) || !s.Until.Equal(now) {
			t.Errorf("window %v..%v", s.Since, s.Until)
		}
		// 30 + 30 + 7 + 4 + 5 + 25 verify events, and the principal.add.
		if s.Events != 102 {
			t.Errorf("Events = %d, want 102", s.Events)
		}
		if _, ok := agents["did:key:G"]; ok {
			t.Error("G, active only before the window, is listed")
		}
	})
	t.Run("sorted by risk", func(t *testing.T) {
		want := []string{"did:key:B", "did:key:E", "did:key:A", "did:key:C", "did:key:D", "did:key:A2"}
		if !slices.Equal(order, want) {
			t.Fatalf("order %v, want %v", order, want)
		}
	})
	t.Run("denials by reason", func(t *testing.T) {
		b := agents["did:key:B"]
		want := map[string]int{"revoked": 2, "suspended": 1, "insufficient_scope": 2, "expired": 1}
		if !maps.Equal(b.DenialsByReason, want) || b.Denials != 6 || b.Requests != 7 || b.Events != 7 {
			t.Fatalf("B: %+v", b)
		}
	})
	t.Run("revoked or suspended credential used", func(t *testing.T) {
		if b := agents["did:key:B"]; b.RevokedUses != 3 {
			t.Fatalf("RevokedUses = %d, want 3", b.RevokedUses)
		}
	})
	t.Run("scopes beyond grant", func(t *testing.T) {
		if b := agents["did:key:B"]; b.ScopeEscalations != 2 {
			t.Fatalf("ScopeEscalations = %d, want 2", b.ScopeEscalations)
		}
	})
	t.Run("risk formula", func(t *testing.T) {
		want := map[string]int{"did:key:B": 10*3 + 5*2 + 2*1, "did:key:E": 25 + 3, "did:key:A": 25,
			"did:key:C": 3 * 2, "did:key:D": 3, "did:key:A2": 0}
		for agent, risk := range want {
			if got := agents[agent].Risk; got != risk {
				t.Errorf("%s: risk %d, want %d", agent, got, risk)
			}
		}
	})
	t.Run("first-seen resources", func(t *testing.T) {
		if got := agents["did:key:C"].NewResources; !slices.Equal(got, []string{"https://r2.example", "https://r3.example"}) {
			t.Errorf("C: %v", got)
		}
		if got := agents["did:key:B"].NewResources; got != nil {
			t.Errorf("B: %v, want none", got)
		}
	})
	t.Run("rate spike", func(t *testing.T) {
		tests := []struct {
			agent    string
			peak     int
			baseline float64
			spike    bool
		}{
			{"did:key:A", 30, 1, true},    // 30 > 5 x 1
			{"did:key:A2", 30, 10, false}, // 30 <= 5 x 10
			{"did:key:D", 5, 0, false},    // under the minimum count
			{"did:key:E", 25, 0, true},    // no baseline, over the minimum
		}
		for _, tt := range tests {
			a := agents[tt.agent]
			if a.PeakPerMinute != tt.peak || a.BaselinePerMinute != tt.baseline || a.RateSpike != tt.spike {
				t.Errorf("%s: peak %d baseline %v spike %v; want %d %v %v", tt.agent,
					a.PeakPerMinute, a.BaselinePerMinute, a.RateSpike, tt.peak, tt.baseline, tt.spike)
			}
		}
	})
	t.Run("dormant", func(t *testing.T) {
		var got []string
		for _, a := range s.DormantAgents {
			got = append(got, a.DID)
		}
		if !slices.Equal(got, []string{"did:key:F", "did:key:K", "did:key:M"}) {
			t.Fatalf("dormant %v", got)
		}
	})
	t.Run("expired not retired", func(t *testing.T) {
		if len(s.ExpiredNotRetired) != 1 || s.ExpiredNotRetired[0].DID != "did:key:H" {
			t.Fatalf("expired-not-retired %+v", s.ExpiredNotRetired)
		}
	})
}

func TestSummaryOptions(t *testing.T) {
	l, _, since := summaryFixture(t)
	t.Run("spike factor", func(t *testing.T) {
		s, err := l.Summary(t.Context(), since, audit.SummaryOptions{SpikeFactor: 40})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range s.Agents {
			if a.Agent == "did:key:A" && a.RateSpike {
				t.Fatal("A flagged with factor 40")
			}
		}
	})
	t.Run("dormant after", func(t *testing.T) {
		s, err := l.Summary(t.Context(), since, audit.SummaryOptions{DormantAfter: 30 * time.Minute,
			Agents: []audit.AgentState{{DID: "did:key:L", LastSeen: since}}})
		if err != nil || len(s.DormantAgents) != 1 {
			t.Fatalf("%+v, %v", s, err)
		}
	})
	t.Run("negative", func(t *testing.T) {
		for _, o := range []audit.SummaryOptions{{SpikeFactor: -1}, {SpikeMinCount: -1}, {DormantAfter: -1}} {
			if _, err := l.Summary(t.Context(), since, o); !errors.Is(err, audit.ErrBadFilter) {
				t.Errorf("%+v: %v", o, err)
			}
		}
	})
}
