package issuer

import (
	"context"
	"github.com/agentid/agentid/store"
	"sync"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/vc"
)

func TestIssueConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const n = 50
	reqs := make([]IssueRequest, n)
	for i := range reqs {
		a := e.newAgent(t)
		reqs[i] = e.request(t, a)
		if i%2 == 1 {
			reqs[i].Proof = e.proofFor(t, a, e.admin.DID)
		}
	}
	out := make([]*Issued, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			<-start
			actor := e.orchP
			if i%2 == 1 {
				actor = e.adminP
			}
			out[i], errs[i] = e.is.Issue(ctx, actor, reqs[i])
		})
	}
	close(start)
	wg.Wait()

	seen := map[string]string{}
	ids := map[string]bool{}
	for i := range reqs {
		if errs[i] != nil {
			t.Fatalf("issue %d: %v", i, errs[i])
		}
		if ids[out[i].ID] {
			t.Fatalf("credential id %s twice", out[i].ID)
		}
		ids[out[i].ID] = true
		if out[i].Agent.DID != reqs[i].Agent {
			t.Fatalf("issue %d returned agent %s, want %s", i, out[i].Agent.DID, reqs[i].Agent)
		}
		c := parse(t, out[i].Credential)
		if c.CredentialSubject.ID != reqs[i].Agent {
			t.Fatalf("issue %d returned a credential for %s, want %s", i, c.CredentialSubject.ID, reqs[i].Agent)
		}
		collect(t, seen, out[i].Credential)
		if rec, ok := e.credential(t, out[i].ID); !ok || rec.Revocation != entry(t, c, "revocation") || rec.Suspension != entry(t, c, "suspension") {
			t.Errorf("record of %d = %+v (%v): its entries differ from the credential's", i, rec, ok)
		}
	}
	if len(seen) != 2*n {
		t.Fatalf("%d distinct status indexes, want %d", len(seen), 2*n)
	}
	if c := e.count(t, bucketCredentials); c != n {
		t.Fatalf("%d credential records, want %d", c, n)
	}
	if evs := e.events(t, audit.Filter{Action: audit.ActionAgentIssue, Decision: audit.DecisionAllow}); len(evs) != n {
		t.Fatalf("%d issue events, want %d", len(evs), n)
	}
	e.verifyAudit(t)
}

// Issues, refreshes, status changes and reads all at once: no error beyond
// the expected refusals, and the audit chain holds.
func TestMixedConcurrent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const n = 16
	type agent struct {
		req IssueRequest
		iss *Issued
	}
	pre := make([]agent, n)
	for i := range pre {
		a, iss := e.issue(t, e.orchP, nil)
		pre[i] = agent{req: IssueRequest{Agent: a.DID}, iss: iss}
		// A refresh presentation for each, made before the race.
		pre[i].req.Proof = e.refreshVP(t, a, iss.Credential)
	}
	fresh := make([]IssueRequest, n)
	for i := range fresh {
		fresh[i] = e.request(t, e.newAgent(t))
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() {
			if _, err := e.is.Issue(ctx, e.orchP, fresh[i]); err != nil {
				errc <- err
			}
		})
		wg.Go(func() {
			if _, err := e.is.Refresh(ctx, pre[i].req.Proof, "POST", refreshURL); err != nil {
				errc <- err
			}
		})
		wg.Go(func() {
			if _, err := e.is.SetStatus(ctx, e.adminP, pre[(i+1)%n].iss.ID, Suspend); err != nil {
				errc <- err
			}
		})
		wg.Go(func() {
			if _, err := e.is.Agents(ctx, e.orchP, AgentFilter{}); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		// A refresh may lose the race against the suspension of its
		// credential; nothing else may fail.
		if e, ok := Refusal(err); !ok || e.Code != "suspended" {
			t.Errorf("unexpected error: %v", err)
		}
	}
	e.verifyAudit(t)
}

// Requests that pass the issuer's own checks but fail the credential schema
// are refused inside the batched write transaction. Such a refusal rolls
// back the whole batch; the other callers in it must still succeed.
func TestIssueSchemaRefusalInBatch(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const good, bad = 24, 6
	reqs := make([]IssueRequest, good+bad)
	for i := range reqs {
		a := e.newAgent(t)
		reqs[i] = e.request(t, a)
		reqs[i].Proof = e.proofFor(t, a, e.admin.DID)
		if i >= good {
			// Accepted by validScope, refused by the schema's lowercase
			// scope pattern.
			reqs[i].Scopes = []string{"Mail:Read"}
		}
	}
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() { _, errs[i] = e.is.Issue(ctx, e.adminP, reqs[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if i < good && err != nil {
			t.Errorf("good issue %d: %v", i, err)
		}
		if i >= good {
			e, _ := Refusal(err)
			if e == nil || e.Kind != KindInvalid || (e.Code != CodeInvalidRequest && e.Code != "schema_invalid") {
				t.Errorf("bad issue %d: %v", i, err)
			} else if i == good {
				t.Logf("refusal: %v %s", e.Kind, e.Code)
			}
		}
	}
	if n := e.count(t, bucketCredentials); n != good {
		t.Fatalf("%d credential records, want %d", n, good)
	}
	seen := map[string]string{}
	_ = e.is.db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucketCredentials).Range(nil, func(k, v []byte) error {
			var c credentialRecord
			if err := decodeJSON(tx, bucketCredentials, k, v, &c); err != nil {
				t.Fatal(err)
			}
			for _, s := range []vc.StatusEntry{c.Revocation, c.Suspension} {
				if prev, ok := seen[indexKey(s)]; ok {
					t.Errorf("index %s shared by %s and %s", indexKey(s), prev, c.ID)
				}
				seen[indexKey(s)] = c.ID
			}
			return nil
		})
	})
	e.verifyAudit(t)
}
