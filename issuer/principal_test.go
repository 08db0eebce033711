package issuer

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

func TestAddPrincipal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	o := e.newAgent(t)
	e.clock.Advance(time.Minute)
	p := Principal{DID: o.DID, Role: RoleOrchestrator, Name: "ci", Ceiling: []string{"calendar:*", "mail:read"},
		Audiences: []string{calendarAPI}, MaxTTL: time.Duration(30 * time.Minute)}
	if _, err := e.is.AddPrincipal(ctx, e.adminP, p); err != nil {
		t.Fatal(err)
	}
	got, err := e.is.Principal(ctx, o.DID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != RoleOrchestrator || got.Name != "ci" || !slices.Equal(got.Ceiling, p.Ceiling) || !slices.Equal(got.Audiences, p.Audiences) ||
		got.MaxTTL != p.MaxTTL || got.CreatedBy != e.admin.DID || !got.CreatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("principal = %+v", got)
	}
	all, err := e.is.Principals(ctx, e.adminP)
	if err != nil || len(all) != 3 {
		t.Fatalf("Principals = %d, %v; want 3", len(all), err)
	}
	if first, _ := e.is.Principal(ctx, e.admin.DID); first.CreatedBy != "system" {
		t.Errorf("first admin created by %q, want system", first.CreatedBy)
	}
	evs := e.events(t, audit.Filter{Action: audit.ActionPrincipalAdd, Decision: audit.DecisionAllow, Agent: o.DID})
	if len(evs) != 1 || evs[0].Actor != e.admin.DID {
		t.Errorf("audit = %+v", evs)
	}
}

func TestAddPrincipalRefused(t *testing.T) {
	tests := []struct {
		name   string
		actor  func(e *env) *Principal
		p      func(t *testing.T, e *env) Principal
		status Kind
		code   Code
	}{
		{name: "orchestrator may not register", actor: func(e *env) *Principal { return e.orchP },
			p: func(t *testing.T, e *env) Principal {
				return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"calendar:read"}}
			}, status: KindForbidden, code: CodeForbidden},
		{name: "orchestrator may not register an admin", actor: func(e *env) *Principal { return e.orchP },
			p:      func(t *testing.T, e *env) Principal { return Principal{DID: e.newAgent(t).DID, Role: RoleAdmin} },
			status: KindForbidden, code: CodeForbidden},
		{name: "duplicate", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.orch.DID, Role: RoleOrchestrator, Ceiling: []string{"mail:read"}}
		}, status: KindConflict, code: CodePrincipalExists},
		{name: "duplicate admin", p: func(t *testing.T, e *env) Principal { return Principal{DID: e.admin.DID, Role: RoleAdmin} },
			status: KindConflict, code: CodePrincipalExists},
		{name: "ceiling without colon", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"calendar"}}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "ceiling bare wildcard", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"*"}}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "ceiling resource wildcard", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"*:read"}}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "ceiling inner wildcard", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"calendar:re*"}}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "orchestrator without ceiling", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "unknown role", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: "root", Ceiling: []string{"calendar:read"}}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "empty role", p: func(t *testing.T, e *env) Principal { return Principal{DID: e.newAgent(t).DID} },
			status: KindInvalid, code: CodeInvalidRequest},
		{name: "did:web", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: "did:web:orchestrator.example.com", Role: RoleOrchestrator, Ceiling: []string{"calendar:read"}}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "not a DID", p: func(t *testing.T, e *env) Principal { return Principal{DID: "alice", Role: RoleAdmin} },
			status: KindInvalid, code: CodeInvalidRequest},
		{name: "empty DID", p: func(t *testing.T, e *env) Principal { return Principal{Role: RoleAdmin} },
			status: KindInvalid, code: CodeInvalidRequest},
		{name: "maxTtl beyond issuer", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"calendar:read"}, MaxTTL: time.Duration(2 * time.Hour)}
		}, status: KindInvalid, code: CodeLifetimeExceeds},
		{name: "maxDepth negative", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"calendar:read"}, MaxDepth: -1}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "maxDepth beyond MaxDelegationDepth", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleOrchestrator, Ceiling: []string{"calendar:read"}, MaxDepth: MaxDelegationDepth + 1}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "maxDepth absurd", p: func(t *testing.T, e *env) Principal {
			return Principal{DID: e.newAgent(t).DID, Role: RoleAdmin, MaxDepth: math.MaxInt}
		}, status: KindInvalid, code: CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			actor := e.adminP
			if tc.actor != nil {
				actor = tc.actor(e)
			}
			p := tc.p(t, e)
			before, err := e.is.Principals(ctx, e.adminP)
			if err != nil {
				t.Fatal(err)
			}
			deny := audit.Filter{Action: audit.ActionPrincipalAdd, Decision: audit.DecisionDeny, Agent: p.DID}
			n := len(e.events(t, deny))
			_, err = e.is.AddPrincipal(ctx, actor, p)
			wantErr(t, err, tc.status, tc.code)
			after, err := e.is.Principals(ctx, e.adminP)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("principals: %d → %d", len(before), len(after))
			}
			for _, q := range after {
				if q.DID == p.DID && q.Role != RoleAdmin && q.Role != RoleOrchestrator {
					t.Errorf("stored %+v", q)
				}
			}
			if evs := e.events(t, deny); len(evs) != n+1 || evs[len(evs)-1].Reason != string(tc.code) {
				t.Errorf("deny events = %+v", evs)
			}
		})
	}
}

func TestRemovePrincipal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	wantErr(t, e.is.RemovePrincipal(ctx, e.adminP, e.admin.DID), KindConflict, CodeLastAdmin)
	wantErr(t, e.is.RemovePrincipal(ctx, e.orchP, e.orch.DID), KindForbidden, CodeForbidden)
	wantErr(t, e.is.RemovePrincipal(ctx, e.adminP, e.newAgent(t).DID), KindNotFound, CodeUnknownPrincipal)
	if _, err := e.is.Principal(ctx, e.admin.DID); err != nil {
		t.Fatal("the last admin was removed")
	}

	// With a second admin, either may go; then the other is the last.
	second := e.newAgent(t)
	secondP := e.addPrincipal(t, e.adminP, Principal{DID: second.DID, Role: RoleAdmin})
	if err := e.is.RemovePrincipal(ctx, secondP, e.admin.DID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.is.RemovePrincipal(ctx, secondP, second.DID), KindConflict, CodeLastAdmin)

	// Orchestrators are removed freely, and cannot authenticate afterwards.
	if err := e.is.RemovePrincipal(ctx, secondP, e.orch.DID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, func() error {
		_, err := e.is.Principal(ctx, e.orch.DID)
		return err
	}(), KindNotFound, CodeUnknownPrincipal)
	_, err := e.is.Authenticate(ctx, e.requestVP(t, e.orch, "POST", testURL+"/v1/agents"), "POST", testURL+"/v1/agents", nil)
	wantErr(t, err, KindUnauthenticated, CodeUnknownPrincipal)

	if evs := e.events(t, audit.Filter{Action: audit.ActionPrincipalRemove, Decision: audit.DecisionAllow}); len(evs) != 2 {
		t.Errorf("allow events = %+v", evs)
	}
	if evs := e.events(t, audit.Filter{Action: audit.ActionPrincipalRemove, Decision: audit.DecisionDeny}); len(evs) != 4 {
		t.Errorf("deny events = %d, want 4", len(evs))
	}
	e.verifyAudit(t)
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const method, url = "POST", testURL + "/v1/agents"

	got, err := e.is.Authenticate(ctx, e.requestVP(t, e.admin, method, url), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.DID != e.admin.DID || got.Role != RoleAdmin {
		t.Fatalf("principal = %+v", got)
	}
	got, err = e.is.Authenticate(ctx, e.requestVP(t, e.orch, "GET", testURL+"/v1/agents"), "GET", testURL+"/v1/agents?status=active", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.DID != e.orch.DID || got.Role != RoleOrchestrator || !slices.Equal(got.Ceiling, []string{"calendar:*"}) {
		t.Fatalf("principal = %+v", got)
	}
}

func TestAuthenticateRefused(t *testing.T) {
	const method, url = "POST", testURL + "/v1/agents"
	tests := []struct {
		name   string
		vp     func(t *testing.T, e *env) string
		code   reason.Code
		status Kind
	}{
		{name: "unknown DID", vp: func(t *testing.T, e *env) string {
			return e.requestVP(t, e.newAgent(t), method, url)
		}, code: reason.Code(CodeUnknownPrincipal)},
		{name: "replayed jti", vp: func(t *testing.T, e *env) string {
			vp := e.requestVP(t, e.admin, method, url)
			if _, err := e.is.Authenticate(context.Background(), vp, method, url, nil); err != nil {
				t.Fatal(err)
			}
			return vp
		}, code: reason.Replayed},
		{name: "same jti, new signature", vp: func(t *testing.T, e *env) string {
			fix := func(p *vc.Presentation) { p.Jti = "fixed-jti" }
			if _, err := e.is.Authenticate(context.Background(), e.admin.Present(t, "", testURL, method, url, e.clock.Now(), fix), method, url, nil); err != nil {
				t.Fatal(err)
			}
			return e.admin.Present(t, "", testURL, method, url, e.clock.Now().Add(time.Second), fix)
		}, code: reason.Replayed},
		{name: "wrong htu", vp: func(t *testing.T, e *env) string {
			return e.requestVP(t, e.admin, method, testURL+"/v1/principals")
		}, code: reason.RequestMismatch},
		{name: "htu of another host", vp: func(t *testing.T, e *env) string {
			return e.requestVP(t, e.admin, method, "http://evil.example.com/v1/agents")
		}, code: reason.RequestMismatch},
		{name: "wrong htm", vp: func(t *testing.T, e *env) string {
			return e.requestVP(t, e.admin, "GET", url)
		}, code: reason.RequestMismatch},
		{name: "no htm/htu", vp: func(t *testing.T, e *env) string {
			return e.requestVP(t, e.admin, "", "")
		}, code: reason.RequestMismatch},
		{name: "wrong audience", vp: func(t *testing.T, e *env) string {
			return e.admin.Present(t, "", calendarAPI, method, url, e.clock.Now(), nil)
		}, code: reason.WrongAudience},
		{name: "expired", vp: func(t *testing.T, e *env) string {
			return e.admin.Present(t, "", testURL, method, url, e.clock.Now().Add(-3*time.Minute), nil)
		}, code: reason.Expired},
		{name: "from the future", vp: func(t *testing.T, e *env) string {
			return e.admin.Present(t, "", testURL, method, url, e.clock.Now().Add(3*time.Minute), nil)
		}, code: reason.NotYetValid},
		{name: "carries a credential", vp: func(t *testing.T, e *env) string {
			_, iss := e.issue(t, e.adminP, nil)
			return e.admin.Present(t, iss.Credential, testURL, method, url, e.clock.Now(), nil)
		}, code: reason.Malformed},
		{name: "agent's refresh presentation", vp: func(t *testing.T, e *env) string {
			a, iss := e.issue(t, e.adminP, nil)
			return a.Present(t, iss.Credential, testURL, method, url, e.clock.Now(), nil)
		}, code: reason.Malformed},
		{name: "signed by another key", vp: func(t *testing.T, e *env) string {
			// The admin's kid over a signature by another key.
			other := e.newAgent(t)
			s, err := vc.NewKeySigner(other.Key, e.admin.Signer.KeyID())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := vc.SignPresentation(s, &vc.Presentation{Holder: e.admin.DID, Aud: vc.Audience{testURL},
				Iat: e.clock.Now().Unix(), Exp: e.clock.Now().Add(time.Minute).Unix(), Jti: "forged", Htm: method, Htu: url})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, code: reason.BadSignature},
		{name: "garbage", vp: func(t *testing.T, e *env) string { return "eyJhbGciOiJub25lIn0.e30." }, code: "*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			vp := tc.vp(t, e)
			n := len(e.events(t, audit.Filter{Action: "authenticate", Decision: audit.DecisionDeny}))
			p, err := e.is.Authenticate(context.Background(), vp, method, url, nil)
			if p != nil {
				t.Errorf("principal %+v with error %v", p, err)
			}
			if tc.code == "*" {
				if err == nil {
					t.Fatal("accepted")
				}
				if st, _, _ := kindCode(err); st != KindUnauthenticated {
					t.Fatalf("status = %d (%v), want 401", st, err)
				}
			} else {
				wantErr(t, err, KindUnauthenticated, Code(tc.code))
			}
			if evs := e.events(t, audit.Filter{Action: "authenticate", Decision: audit.DecisionDeny}); len(evs) != n+1 {
				t.Errorf("deny events: %d → %d", n, len(evs))
			}
		})
	}
}

// TestAuthenticateFloodLeavesNoTrace: request presentations from fresh
// keys that are no principal are refused as unknown_principal and leave
// nothing in the replay cache the principals share, so that an admin's
// later calls pass and their replays are still refused. Before the jti was
// recorded after the principal lookup, each refused presentation took an
// entry, and enough of them locked admins out as replayed.
func TestAuthenticateFloodLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const method, url = "POST", testURL + "/v1/agents"
	before := e.is.replay.Len()
	for range 300 {
		_, err := e.is.Authenticate(ctx, e.requestVP(t, e.newAgent(t), method, url), method, url, nil)
		wantErr(t, err, KindUnauthenticated, CodeUnknownPrincipal)
	}
	if n := e.is.replay.Len(); n != before {
		t.Fatalf("the flood left %d entries in the replay cache", n-before)
	}
	for range 3 {
		vp := e.requestVP(t, e.admin, method, url)
		if _, err := e.is.Authenticate(ctx, vp, method, url, nil); err != nil {
			t.Fatalf("admin after the flood: %v", err)
		}
		_, err := e.is.Authenticate(ctx, vp, method, url, nil)
		wantErr(t, err, KindUnauthenticated, Code(reason.Replayed))
	}
}
