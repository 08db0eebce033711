package issuer

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/verifiertest"
)

func TestNewDerivesDIDWeb(t *testing.T) {
	e := newEnv(t)
	if got := e.is.DID(); got != testDID {
		t.Fatalf("DID = %q, want %q", got, testDID)
	}
	if got := e.is.URL(); got != testURL {
		t.Fatalf("URL = %q, want %q", got, testURL)
	}
}

func TestIssue(t *testing.T) {
	tests := []struct {
		name string
		// actor picks the caller; nil means the orchestrator.
		actor     func(e *env) *Principal
		mod       func(r *IssueRequest)
		wantTTL   time.Duration
		wantLife  time.Duration
		wantScope []string
	}{
		{name: "orchestrator defaults", wantTTL: 15 * time.Minute, wantLife: 24 * time.Hour, wantScope: []string{"calendar:read"}},
		{name: "orchestrator within wildcard ceiling", mod: func(r *IssueRequest) {
			r.Scopes = []string{"calendar:read", "calendar:write"}
			r.TTL = time.Duration(30 * time.Minute)
			r.Lifetime = time.Duration(2 * time.Hour)
		}, wantTTL: 30 * time.Minute, wantLife: 2 * time.Hour, wantScope: []string{"calendar:read", "calendar:write"}},
		{name: "admin without ceiling grants any scope", actor: func(e *env) *Principal { return e.adminP }, mod: func(r *IssueRequest) {
			r.Scopes = []string{"mail:read"}
			r.TTL = time.Duration(time.Hour)
		}, wantTTL: time.Hour, wantLife: 24 * time.Hour, wantScope: []string{"mail:read"}},
		{name: "ttl capped by registration", mod: func(r *IssueRequest) {
			r.TTL = time.Duration(10 * time.Minute)
			r.Lifetime = time.Duration(10 * time.Minute)
		}, wantTTL: 10 * time.Minute, wantLife: 10 * time.Minute, wantScope: []string{"calendar:read"}},
		{name: "minimum ttl", mod: func(r *IssueRequest) {
			r.TTL = time.Duration(time.Minute)
			r.OnBehalfOf = "user:alice@example.com"
			r.Constraints = &vc.Constraints{SourceNetworks: []string{"10.0.0.0/8"}, RateLimit: "600/m"}
		}, wantTTL: time.Minute, wantLife: 24 * time.Hour, wantScope: []string{"calendar:read"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			actor := e.orchP
			if tc.actor != nil {
				actor = tc.actor(e)
			}
			a := e.newAgent(t)
			r := e.request(t, a)
			r.Proof = e.proofFor(t, a, actor.DID)
			if tc.mod != nil {
				tc.mod(&r)
			}
			iss, err := e.is.Issue(ctx, actor, r)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}

			// The credential verifies against the issuer's own keys.
			c, err := vc.VerifyCredential(ctx, iss.Credential, e.is.KeyResolver())
			if err != nil {
				t.Fatalf("VerifyCredential: %v", err)
			}
			if c.ID != iss.ID || !strings.HasPrefix(c.ID, "urn:uuid:") {
				t.Errorf("id = %q, Issued.ID = %q", c.ID, iss.ID)
			}
			if c.Issuer.ID != testDID {
				t.Errorf("issuer = %q, want %q", c.Issuer.ID, testDID)
			}
			if !vc.HasType(c.Type, vc.TypeAgentCredential) {
				t.Errorf("type = %v", c.Type)
			}
			if c.CredentialSubject.ID != a.DID {
				t.Errorf("subject = %q, want %q", c.CredentialSubject.ID, a.DID)
			}
			if !slices.Equal(c.CredentialSubject.Scopes, tc.wantScope) {
				t.Errorf("scopes = %v, want %v", c.CredentialSubject.Scopes, tc.wantScope)
			}
			if !slices.Equal(c.CredentialSubject.Audiences, []string{calendarAPI}) {
				t.Errorf("audiences = %v", c.CredentialSubject.Audiences)
			}
			if c.CredentialSubject.Owner != r.Owner || c.CredentialSubject.Purpose != r.Purpose || c.CredentialSubject.OnBehalfOf != r.OnBehalfOf {
				t.Errorf("subject = %+v", c.CredentialSubject)
			}
			if c.CredentialSubject.DelegatedBy != actor.DID {
				t.Errorf("delegatedBy = %q, want %q", c.CredentialSubject.DelegatedBy, actor.DID)
			}
			if c.ValidFrom == nil || !c.ValidFrom.Equal(t0) {
				t.Errorf("validFrom = %v, want %v", c.ValidFrom, t0)
			}
			wantUntil := t0.Add(tc.wantTTL)
			if c.ValidUntil == nil || !c.ValidUntil.Equal(wantUntil) || !iss.ValidUntil.Equal(wantUntil) {
				t.Errorf("validUntil = %v, Issued.ValidUntil = %v, want %v", c.ValidUntil, iss.ValidUntil, wantUntil)
			}
			if c.Iss != testDID || c.Sub != a.DID || c.Jti != c.ID || c.Iat != t0.Unix() || c.Exp != wantUntil.Unix() || c.Nbf != 0 {
				t.Errorf("registered claims = %+v", c.Claims)
			}
			if c.CredentialSchema == nil || c.CredentialSchema.ID != testURL+"/schemas/agent-credential-v1.schema.json" {
				t.Errorf("credentialSchema = %+v", c.CredentialSchema)
			}

			// Its status entries are allocated and clear.
			if len(c.CredentialStatus) != 2 {
				t.Fatalf("credentialStatus = %+v", c.CredentialStatus)
			}
			for _, p := range purposes {
				s := entry(t, c, p)
				if !strings.HasPrefix(s.StatusListCredential, testURL+"/status/"+string(p)+"/") || s.Type != statuslist.EntryType {
					t.Errorf("%s entry = %+v", p, s)
				}
				if e.bit(t, s) {
					t.Errorf("%s bit of a new credential is set", p)
				}
			}

			// The inventory record.
			ag, err := e.is.Agent(ctx, e.adminP, a.DID)
			if err != nil {
				t.Fatal(err)
			}
			if ag.Owner != r.Owner || ag.Purpose != r.Purpose || ag.CreatedBy != actor.DID || !ag.CreatedAt.Equal(t0) {
				t.Errorf("agent = %+v", ag)
			}
			if ag.CurrentCredential != iss.ID || !ag.CredentialExpires.Equal(wantUntil) || !slices.Equal(ag.Credentials, []string{iss.ID}) {
				t.Errorf("agent credentials = %q %v %v", ag.CurrentCredential, ag.CredentialExpires, ag.Credentials)
			}
			if !ag.RegistrationExpires.Equal(t0.Add(tc.wantLife)) {
				t.Errorf("registrationExpires = %v, want %v", ag.RegistrationExpires, t0.Add(tc.wantLife))
			}
			if time.Duration(ag.TTL) != tc.wantTTL || ag.Status != StatusActive || iss.Agent == nil || iss.Agent.Status != StatusActive {
				t.Errorf("agent ttl %v status %q", time.Duration(ag.TTL), ag.Status)
			}
			cr, ok := e.credential(t, iss.ID)
			if !ok || cr.Agent != a.DID || cr.IssuedBy != actor.DID || cr.Revocation != entry(t, c, statuslist.Revocation) || cr.Suspension != entry(t, c, statuslist.Suspension) {
				t.Errorf("credential record = %+v (found %v)", cr, ok)
			}

			// The audit trail.
			evs := e.events(t, audit.Filter{Action: audit.ActionAgentIssue, Agent: a.DID})
			if len(evs) != 1 || evs[0].Decision != audit.DecisionAllow || evs[0].Actor != actor.DID || evs[0].Credential != iss.ID ||
				!slices.Equal(evs[0].Scopes, tc.wantScope) || evs[0].Resource != calendarAPI {
				t.Errorf("audit = %+v", evs)
			}
			e.verifyAudit(t)

			// And a resource API accepts the agent's presentation of it.
			v, err := verifier.New(verifier.WithKeyResolver(e.is.KeyResolver()), verifier.WithTrustedIssuers(e.is.DID()),
				verifier.WithStatusChecker(e.is.StatusChecker()), verifier.WithClock(e.clock.Now), verifier.WithAudience(calendarAPI))
			if err != nil {
				t.Fatal(err)
			}
			vp := a.Present(t, iss.Credential, calendarAPI, "GET", calendarAPI+"/v1/events", e.clock.Now(), nil)
			res, err := v.Verify(ctx, vp, verifier.Request{Method: "GET", URL: calendarAPI + "/v1/events", Scopes: tc.wantScope, SourceIP: "10.1.2.3"})
			if err != nil {
				t.Fatalf("resource API verification: %v", err)
			}
			if res.Agent != a.DID || res.CredentialID != iss.ID {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestIssueRefused(t *testing.T) {
	type setup struct {
		actor *Principal
		r     IssueRequest
	}
	// Each case builds its caller and request; build may register agents
	// before the snapshot of what must not change.
	tests := []struct {
		name   string
		build  func(t *testing.T, e *env, a *verifiertest.Agent) setup
		status Kind
		code   Code
	}{
		{name: "role may not register", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			return setup{&Principal{DID: e.orch.DID, Role: "auditor"}, e.request(t, a)}
		}, status: KindForbidden, code: CodeForbidden},
		{name: "unknown role in actor", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			return setup{&Principal{DID: a.DID}, e.request(t, a)}
		}, status: KindForbidden, code: CodeForbidden},
		{name: "scope beyond ceiling", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Scopes = []string{"calendar:read", "mail:read"}
			return setup{e.orchP, r}
		}, status: KindForbidden, code: CodeScopeExceedsCeiling},
		{name: "scope beyond exact ceiling", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			_, p := e.newOrchestrator(t, Principal{Ceiling: []string{"calendar:read"}})
			r := e.request(t, a)
			r.Scopes = []string{"calendar:write"}
			return setup{p, r}
		}, status: KindForbidden, code: CodeScopeExceedsCeiling},
		{name: "admin with ceiling bound by it", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			b := e.newAgent(t)
			p := e.addPrincipal(t, e.adminP, Principal{DID: b.DID, Role: RoleAdmin, Ceiling: []string{"calendar:read"}})
			r := e.request(t, a)
			r.Scopes = []string{"mail:read"}
			return setup{p, r}
		}, status: KindForbidden, code: CodeScopeExceedsCeiling},
		{name: "upper-case scope", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Scopes = []string{"Mail:Read"}
			return setup{e.adminP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "repeated scope", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Scopes = []string{"calendar:read", "calendar:read"}
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "purpose too long", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Purpose = strings.Repeat("p", 1025)
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "constraint the schema refuses", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Constraints = &vc.Constraints{RateLimit: "lots"}
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "proof carrying a credential", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			n := e.is.Nonce()
			r.Proof = a.Present(t, "x.y.z", testURL, "", "", e.clock.Now(), func(p *vc.Presentation) { p.Nonce = n })
			return setup{e.orchP, r}
		}, status: KindInvalid, code: "malformed"},
		{name: "wildcard scope asked", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Scopes = []string{"calendar:*"}
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "wildcard scope asked by admin", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Scopes = []string{"*"}
			return setup{e.adminP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "no scopes", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Scopes = nil
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "scope without action", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Scopes = []string{"calendar"}
			return setup{e.adminP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "ttl beyond principal maxTtl", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			_, p := e.newOrchestrator(t, Principal{MaxTTL: time.Duration(10 * time.Minute)})
			r := e.request(t, a)
			r.TTL = time.Duration(11 * time.Minute)
			return setup{p, r}
		}, status: KindInvalid, code: CodeLifetimeExceeds},
		{name: "ttl beyond issuer maxTtl", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.TTL = time.Duration(time.Hour + time.Second)
			return setup{e.adminP, r}
		}, status: KindInvalid, code: CodeLifetimeExceeds},
		{name: "ttl below one minute", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.TTL = time.Duration(59 * time.Second)
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeLifetimeExceeds},
		{name: "negative ttl", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.TTL = time.Duration(-time.Minute)
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeLifetimeExceeds},
		{name: "registration beyond maximum", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Lifetime = time.Duration(30*24*time.Hour + time.Second)
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeLifetimeExceeds},
		{name: "registration shorter than ttl", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.TTL = time.Duration(15 * time.Minute)
			r.Lifetime = time.Duration(14 * time.Minute)
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeLifetimeExceeds},
		{name: "proof by the wrong key", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Proof = e.proof(t, e.newAgent(t))
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.HolderMismatch)},
		{name: "proof with unknown nonce", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Proof = a.Present(t, "", testURL, "", "", e.clock.Now(), func(p *vc.Presentation) { p.Nonce = "not-a-nonce-of-this-issuer" })
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.BadNonce)},
		{name: "proof without nonce", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Proof = a.Present(t, "", testURL, "", "", e.clock.Now(), nil)
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.BadNonce)},
		{name: "proof with stale nonce", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			n := e.is.Nonce()
			e.clock.Advance(5*time.Minute + time.Second)
			r := e.request(t, a)
			r.Proof = a.Present(t, "", testURL, "", "", e.clock.Now(), func(p *vc.Presentation) { p.Nonce = n })
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.BadNonce)},
		{name: "proof with reused nonce", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			n := e.is.Nonce()
			b := e.newAgent(t)
			rb := e.request(t, b)
			rb.Proof = b.Present(t, "", testURL, "", "", e.clock.Now(), func(p *vc.Presentation) { p.Nonce, p.For = n, e.orch.DID })
			if _, err := e.is.Issue(context.Background(), e.orchP, rb); err != nil {
				t.Fatal(err)
			}
			r := e.request(t, a)
			r.Proof = a.Present(t, "", testURL, "", "", e.clock.Now(), func(p *vc.Presentation) { p.Nonce = n })
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.BadNonce)},
		{name: "proof replayed", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			// The proof was already checked once (as by a request that
			// failed later): its jti is spent.
			r := e.request(t, a)
			if _, err := e.is.proof.VerifyHolder(context.Background(), r.Proof, verifier.Request{}); err != nil {
				t.Fatal(err)
			}
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.Replayed)},
		{name: "proof for another audience", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Proof = a.Present(t, "", calendarAPI, "", "", e.clock.Now(), func(p *vc.Presentation) { p.Nonce = e.is.Nonce() })
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.WrongAudience)},
		{name: "proof not a token", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Proof = "not.a.jws"
			return setup{e.orchP, r}
		}, status: KindInvalid, code: Code(reason.Malformed)},
		{name: "duplicate agent", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			if _, err := e.is.Issue(context.Background(), e.orchP, e.request(t, a)); err != nil {
				t.Fatal(err)
			}
			return setup{e.orchP, e.request(t, a)}
		}, status: KindConflict, code: CodeAgentExists},
		{name: "duplicate agent by another principal", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			if _, err := e.is.Issue(context.Background(), e.orchP, e.request(t, a)); err != nil {
				t.Fatal(err)
			}
			r := e.request(t, a)
			r.Proof = e.proofFor(t, a, e.admin.DID)
			return setup{e.adminP, r}
		}, status: KindConflict, code: CodeAgentExists},
		{name: "invalid agent DID", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Agent = "did:example:123456789abcdefghi"
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "did:web agent", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Agent = "did:web:agent.example.com"
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "truncated did:key", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Agent = a.DID[:len(a.DID)-3]
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "missing owner", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Owner = ""
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "missing purpose", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Purpose = ""
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "no audience", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			r := e.request(t, a)
			r.Audiences = nil
			return setup{e.orchP, r}
		}, status: KindInvalid, code: CodeInvalidRequest},
		{name: "audience not allowed", build: func(t *testing.T, e *env, a *verifiertest.Agent) setup {
			_, p := e.newOrchestrator(t, Principal{Audiences: []string{"https://other.example.com"}})
			r := e.request(t, a)
			r.Audiences = []string{"https://other.example.com", calendarAPI}
			return setup{p, r}
		}, status: KindForbidden, code: CodeAudienceNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			a := e.newAgent(t)
			s := tc.build(t, e, a)

			agentsBefore, credsBefore := e.count(t, bucketAgents), e.count(t, bucketCredentials)
			var before *Agent
			if ag, err := e.is.Agent(ctx, e.adminP, s.r.Agent); err == nil {
				before = ag
			}
			deny := audit.Filter{Action: audit.ActionAgentIssue, Decision: audit.DecisionDeny, Agent: s.r.Agent}
			deniesBefore := len(e.events(t, deny))

			iss, err := e.is.Issue(ctx, s.actor, s.r)
			if iss != nil {
				t.Errorf("Issue returned a credential with its error: %+v", iss)
			}
			wantErr(t, err, tc.status, tc.code)

			if n := e.count(t, bucketAgents); n != agentsBefore {
				t.Errorf("agent records: %d → %d", agentsBefore, n)
			}
			if n := e.count(t, bucketCredentials); n != credsBefore {
				t.Errorf("credential records: %d → %d", credsBefore, n)
			}
			after, aerr := e.is.Agent(ctx, e.adminP, s.r.Agent)
			switch {
			case before == nil && aerr == nil:
				t.Errorf("a refused issue registered the agent: %+v", after)
			case before == nil:
				wantErr(t, aerr, KindNotFound, CodeUnknownAgent)
			case aerr != nil || after.CurrentCredential != before.CurrentCredential || len(after.Credentials) != len(before.Credentials):
				t.Errorf("a refused issue changed the agent: %+v → %+v (%v)", before, after, aerr)
			}
			evs := e.events(t, deny)
			if len(evs) != deniesBefore+1 {
				t.Fatalf("deny events: %d → %d, want one more", deniesBefore, len(evs))
			}
			last := evs[len(evs)-1]
			if last.Reason != string(tc.code) || last.Actor != s.actor.DID || last.Credential != "" {
				t.Errorf("deny event = %+v", last)
			}
			e.verifyAudit(t)
		})
	}
}

// A proof of control is single-use: the same token cannot register the
// agent (or vouch for it) twice.
func TestIssueProofSingleUse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.newAgent(t)
	r := e.request(t, a)
	if _, err := e.is.Issue(ctx, e.orchP, r); err != nil {
		t.Fatal(err)
	}
	// The very same proof token again, for the same agent: its jti is spent.
	b := e.request(t, e.newAgent(t))
	b.Agent, b.Proof = a.DID, r.Proof
	_, err := e.is.Issue(ctx, e.orchP, b)
	wantErr(t, err, KindInvalid, Code(reason.Replayed))
}

// Two orchestrators racing to register the same agent DID: exactly one wins,
// the others get agent_exists, and exactly one credential is recorded.
func TestIssueSameAgentConcurrently(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.newAgent(t)
	const n = 8
	reqs := make([]IssueRequest, n)
	for i := range reqs {
		reqs[i] = e.request(t, a)
	}
	errs := make(chan error, n)
	for i := range reqs {
		go func() {
			_, err := e.is.Issue(ctx, e.orchP, reqs[i])
			errs <- err
		}()
	}
	ok := 0
	for range n {
		err := <-errs
		if err == nil {
			ok++
			continue
		}
		wantErr(t, err, KindConflict, CodeAgentExists)
	}
	if ok != 1 {
		t.Fatalf("%d issues succeeded, want 1", ok)
	}
	if c := e.count(t, bucketCredentials); c != 1 {
		t.Fatalf("%d credential records, want 1", c)
	}
	e.verifyAudit(t)
}
