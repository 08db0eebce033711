package issuer

import (
	"context"
	"testing"
	"time"
)

func TestAgentCredentials(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, first := e.issue(t, e.orchP, nil)
	e.clock.Advance(10 * time.Minute)
	second, err := e.is.Refresh(ctx, e.refreshVP(t, a, first.Credential), "POST", refreshURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.is.SetStatus(ctx, e.adminP, second.ID, Suspend); err != nil {
		t.Fatal(err)
	}
	for _, who := range []*Principal{e.adminP, e.orchP} {
		got, err := e.is.AgentCredentials(ctx, who, a.DID)
		if err != nil {
			t.Fatalf("%s: %v", who.Role, err)
		}
		if len(got) != 2 || got[0].ID != first.ID || got[1].ID != second.ID {
			t.Fatalf("%s: credentials %+v, want %s then %s", who.Role, got, first.ID, second.ID)
		}
		if got[0].Suspended || got[0].Revoked || !got[1].Suspended || got[1].SuspendedBy != e.adminP.DID || got[1].Agent != a.DID {
			t.Fatalf("%s: states %+v", who.Role, got)
		}
	}
	// Another orchestrator's agent, and no agent at all, are unknown.
	_, other := e.newOrchestrator(t, Principal{Ceiling: []string{"calendar:*"}})
	for _, c := range []struct {
		who   *Principal
		agent string
	}{{other, a.DID}, {e.adminP, "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}} {
		_, err := e.is.AgentCredentials(ctx, c.who, c.agent)
		wantErr(t, err, KindNotFound, CodeUnknownAgent)
	}
}
