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

// TestSummaryNewResourcesAreReachedOnes: only verifications and token
// grants name a resource the agent reached; an approval's id or an
// issuance's audience in Resource is not one.
func TestSummaryNewResourcesAreReachedOnes(t *testing.T) {
	const agent = "did:key:zAgent"
	b, err := NewSummaryBuilder(t0, t0.Add(time.Hour), SummaryOptions{Agents: []AgentState{{DID: agent}}})
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	for _, ev := range []*Event{
		{Time: at, Action: ActionAgentIssue, Subject: agent, Decision: DecisionAllow, Resource: "https://issued.example"},
		{Time: at, Action: "approval.approve", Subject: agent, Decision: DecisionAllow, Resource: "urn:uuid:0f6c9a8e-7b1d-4c1e-9f6e-2a1b3c4d5e6f"},
		{Time: at, Action: ActionVerify, Subject: agent, Decision: DecisionAllow, Resource: "https://verified.example"},
		{Time: at, Action: ActionOAuthToken, Subject: agent, Decision: DecisionAllow, Resource: "https://token.example"},
	} {
		b.Add(ev)
	}
	s := b.Summary()
	if len(s.Agents) != 1 {
		t.Fatalf("agents %+v: want one", s.Agents)
	}
	got := s.Agents[0].NewResources
	want := []string{"https://token.example", "https://verified.example"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("new resources %q, want %q", got, want)
	}
}
