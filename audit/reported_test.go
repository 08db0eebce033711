package audit

import (
	"testing"
	"time"
)

// TestSummaryReportedEvents: reported events (the reporter's word, time
// included) neither move an agent's last-seen time nor feed the baseline a
// spike is measured against.
func TestSummaryReportedEvents(t *testing.T) {
	since := t0
	now := t0.Add(time.Hour)
	const agent = "did:key:zAgent"
	b, err := NewSummaryBuilder(since, now, SummaryOptions{Agents: []AgentState{{DID: agent}}})
	if err != nil {
		t.Fatal(err)
	}
	// A flood of backdated reported verifications, which would make the
	// baseline high...
	for i := range 1000 {
		b.Add(&Event{Time: t0.Add(-time.Hour + time.Duration(i)*time.Millisecond), Action: ActionVerify, Subject: agent,
			Decision: DecisionAllow, Reported: true})
	}
	// ...a real burst in the window...
	for range 30 {
		b.Add(&Event{Time: t0.Add(time.Minute), Action: ActionVerify, Subject: agent, Decision: DecisionAllow})
	}
	s := b.Summary()
	if len(s.Agents) != 1 || !s.Agents[0].RateSpike || s.Agents[0].BaselinePerMinute != 0 {
		t.Fatalf("agents %+v: want a rate spike over a zero baseline", s.Agents)
	}

	// ...and a reported event dated last, which would make an idle agent
	// look active.
	b, err = NewSummaryBuilder(since, now.Add(30*24*time.Hour), SummaryOptions{Agents: []AgentState{{DID: agent}}})
	if err != nil {
		t.Fatal(err)
	}
	b.Add(&Event{Time: now.Add(30 * 24 * time.Hour), Action: ActionVerify, Subject: agent, Decision: DecisionAllow, Reported: true})
	s = b.Summary()
	if len(s.DormantAgents) != 1 || s.DormantAgents[0].DID != agent || !s.DormantAgents[0].LastSeen.IsZero() {
		t.Fatalf("dormant %+v: want the agent, never seen", s.DormantAgents)
	}
}
