package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// TestStrangerCannotTellExistence: to an orchestrator that may not see
// them, another orchestrator's agent and credential answer exactly as
// ones that do not exist (404, the same code, the same detail but for the
// identifier asked), on every agent and credential endpoint; and the
// refused request changes nothing.
func TestStrangerCannotTellExistence(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	owner := client.New(ts.url, ts.addOrchestrator(t))
	stranger := client.New(ts.url, ts.addOrchestrator(t))

	agent := newKey(t)
	proof, err := owner.Proof(ctx, agent)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := owner.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:read"},
		Audiences: []string{"https://calendar.example.com"}, Owner: "team-a", Purpose: "test", Task: "job-7"})
	if err != nil {
		t.Fatal(err)
	}
	noAgent := newKey(t).DID
	const noCredential = "urn:uuid:00000000-0000-4000-8000-000000000000"

	for _, tc := range []struct {
		name         string
		code         string
		theirs, none string // the identifier asked for
		call         func(id string) error
	}{
		{"GET /v1/agents/{did}", "unknown_agent", agent.DID, noAgent, func(id string) error {
			_, err := stranger.Agent(ctx, id)
			return err
		}},
		{"POST /v1/agents/{did}/retire", "unknown_agent", agent.DID, noAgent, func(id string) error {
			_, err := stranger.Retire(ctx, id)
			return err
		}},
		{"POST /v1/agents/{did}/retire tree", "unknown_agent", agent.DID, noAgent, func(id string) error {
			_, err := stranger.RetireTree(ctx, id)
			return err
		}},
		{"POST /v1/jobs/{task}/retire", "unknown_agent", "job-7", "job-8", func(id string) error {
			_, err := stranger.RetireTask(ctx, id)
			return err
		}},
		{"POST /v1/credentials/{id}/revoke", "unknown_credential", theirs.ID, noCredential, func(id string) error {
			_, err := stranger.Revoke(ctx, id)
			return err
		}},
		{"POST /v1/credentials/{id}/suspend", "unknown_credential", theirs.ID, noCredential, func(id string) error {
			_, err := stranger.Suspend(ctx, id)
			return err
		}},
		{"POST /v1/credentials/{id}/reinstate", "unknown_credential", theirs.ID, noCredential, func(id string) error {
			_, err := stranger.Reinstate(ctx, id)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer := func(id string) (int, string, string) {
				var p *client.Error
				if err := tc.call(id); !errors.As(err, &p) {
					t.Fatalf("%s: %v, want a refusal", id, err)
				}
				return p.StatusCode, p.Code, strings.ReplaceAll(p.Detail, id, "ID")
			}
			st1, code1, detail1 := answer(tc.theirs)
			st2, code2, detail2 := answer(tc.none)
			if st1 != st2 || code1 != code2 || detail1 != detail2 {
				t.Errorf("another's: %d %s %q; none: %d %s %q", st1, code1, detail1, st2, code2, detail2)
			}
			if st1 != http.StatusNotFound || code1 != tc.code {
				t.Errorf("another's: %d %s, want 404 %s", st1, code1, tc.code)
			}
		})
	}
	a, err := owner.Agent(ctx, agent.DID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != "active" || a.Retired {
		t.Fatalf("the owner's agent after the stranger's requests: %+v", a)
	}
}
