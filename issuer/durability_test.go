package issuer

import (
	"context"
	"sync"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// indexKey names one status bit: purpose, list and index.
func indexKey(s vc.StatusEntry) string {
	return s.StatusPurpose + " " + s.StatusListCredential + "#" + s.StatusListIndex
}

// collect records every status entry of cred in seen and fails on a
// repeat.
func collect(t *testing.T, seen map[string]string, cred string) {
	t.Helper()
	c := parse(t, cred)
	for _, s := range c.CredentialStatus {
		k := indexKey(s)
		if prev, ok := seen[k]; ok {
			t.Errorf("status index %s of %s was already given to %s", k, c.ID, prev)
		}
		seen[k] = c.ID
	}
}

func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	seen := map[string]string{}
	var agents []*verifiertest.Agent
	var issued []*Issued
	for range 10 {
		a, iss := e.issue(t, e.orchP, nil)
		agents, issued = append(agents, a), append(issued, iss)
		collect(t, seen, iss.Credential)
	}
	if _, err := e.is.SetStatus(ctx, e.adminP, issued[0].ID, Revoke); err != nil {
		t.Fatal(err)
	}
	seq, head, err := e.audit.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	e.reopen(t)

	if s, h, err := e.audit.Head(ctx); err != nil || s != seq || h != head {
		t.Fatalf("audit head after reopen = %d %s %v, want %d %s", s, h, err, seq, head)
	}
	rep := e.verifyAudit(t)
	if rep.Events != seq {
		t.Errorf("audit events = %d, want %d", rep.Events, seq)
	}
	for i, a := range agents {
		ag, err := e.is.Agent(ctx, e.adminP, a.DID)
		if err != nil {
			t.Fatalf("agent %d lost: %v", i, err)
		}
		if ag.CurrentCredential != issued[i].ID || ag.CreatedBy != e.orch.DID || ag.Owner != "team-payments" {
			t.Errorf("agent %d = %+v", i, ag)
		}
		if rec, ok := e.credential(t, issued[i].ID); !ok || rec.Agent != a.DID {
			t.Errorf("credential record %d = %+v, %v", i, rec, ok)
		}
		if _, err := vc.VerifyCredential(ctx, issued[i].Credential, e.is.KeyResolver()); err != nil {
			t.Errorf("credential %d after reopen: %v", i, err)
		}
		if evs := e.events(t, audit.Filter{Action: audit.ActionAgentIssue, Agent: a.DID, Decision: audit.DecisionAllow}); len(evs) != 1 {
			t.Errorf("issue event of agent %d: %d", i, len(evs))
		}
	}
	if !e.bit(t, entry(t, parse(t, issued[0].Credential), statuslist.Revocation)) {
		t.Error("revocation lost across reopen")
	}
	if ag, _ := e.is.Agent(ctx, e.adminP, agents[0].DID); ag.Status != StatusRevoked {
		t.Errorf("status after reopen = %q", ag.Status)
	}

	// Issuing after the restart never hands out an earlier index, and an
	// agent of before the restart can still refresh.
	for range 10 {
		_, iss := e.issue(t, e.orchP, nil)
		collect(t, seen, iss.Credential)
	}
	ref, err := e.is.Refresh(ctx, e.refreshVP(t, agents[1], issued[1].Credential), "POST", refreshURL)
	if err != nil {
		t.Fatal(err)
	}
	collect(t, seen, ref.Credential)
	// The same DID is still taken.
	_, err = e.is.Issue(ctx, e.orchP, e.request(t, agents[2]))
	wantErr(t, err, KindConflict, CodeAgentExists)
	e.verifyAudit(t)
}

// A refused issue costs no status index and commits nothing, and a later
// issue after a restart still continues the sequence.
func TestDurableAfterRefusalsAndRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	seen := map[string]string{}
	for i := range 30 {
		a := e.newAgent(t)
		r := e.request(t, a)
		if i%3 == 0 {
			r.Scopes = []string{"mail:read"} // refused
		}
		iss, err := e.is.Issue(ctx, e.orchP, r)
		if i%3 == 0 {
			if err == nil {
				t.Fatal("issue beyond ceiling succeeded")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		collect(t, seen, iss.Credential)
		if i%10 == 5 {
			e.reopen(t)
		}
	}
	if n := e.count(t, bucketCredentials); n != 20 {
		t.Fatalf("%d credential records, want 20", n)
	}
	e.verifyAudit(t)
}

// Issues from many goroutines right before a close: each that returned is
// on disk after the reopen.
func TestDurableConcurrentThenReopen(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const n = 20
	reqs := make([]IssueRequest, n)
	for i := range reqs {
		reqs[i] = e.request(t, e.newAgent(t))
	}
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range reqs {
		wg.Go(func() {
			iss, err := e.is.Issue(ctx, e.orchP, reqs[i])
			errs[i] = err
			if err == nil {
				ids[i] = iss.ID
			}
		})
	}
	wg.Wait()
	e.reopen(t)
	for i := range reqs {
		if errs[i] != nil {
			t.Fatalf("issue %d: %v", i, errs[i])
		}
		if _, ok := e.credential(t, ids[i]); !ok {
			t.Errorf("credential %d (%s) lost", i, ids[i])
		}
		if _, err := e.is.Agent(ctx, e.adminP, reqs[i].Agent); err != nil {
			t.Errorf("agent %d lost: %v", i, err)
		}
	}
	e.verifyAudit(t)
}
