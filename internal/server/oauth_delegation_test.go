package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
)

// lockedBuffer is an audit sink's writer read by the test while the
// resource server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) events(t *testing.T) []audit.Event {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// rsAnswer is what the delegation resource server answers: the result's
// agent and chain on success, the problem on refusal.
type rsAnswer struct {
	status int
	Agent  string   `json:"agent"`
	Chain  []string `json:"chain"`
	Actors []string `json:"actors"`
	Code   string   `json:"code"`
	Detail string   `json:"detail"`
	header http.Header
}

// delegationRS is a resource server following the issuer's feed, with an
// audit sink; GET /v1/events answers the middleware's result.
func delegationRS(t *testing.T, ts *testServer) (*httptest.Server, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	buf := &lockedBuffer{}
	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{
		Issuers: []string{ts.app.Issuer.DID()}, AllowHTTPLocalhost: true,
		StatusEvents: []string{ts.url + "/v1/status/events"},
	}, verifier.WithAudience(calendar), verifier.WithAudit(audit.JSONLines(buf)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &middleware.Config{Verifier: v, BaseURL: calendar, ResourceMetadata: calendar + "/.well-known/oauth-protected-resource"}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/events", middleware.Require(cfg, "calendar:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, _ := middleware.FromContext(r.Context())
		out := rsAnswer{Agent: res.Agent}
		for _, l := range res.Delegation {
			out.Chain = append(out.Chain, l.Holder)
		}
		if res.AccessToken != nil {
			out.Actors = res.AccessToken.Act.Actors()
		}
		_ = json.NewEncoder(w).Encode(out)
	})))
	rs := httptest.NewServer(mux)
	t.Cleanup(rs.Close)
	return rs, buf
}

func callDelegationRS(t *testing.T, rs *httptest.Server, tok *client.Token) rsAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, calendar+"/v1/events", nil)
	if err := tok.Authorize(req); err != nil {
		t.Fatal(err)
	}
	req.URL.Scheme, req.URL.Host, req.Host = "http", strings.TrimPrefix(rs.URL, "http://"), ""
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a rsAnswer
	_ = json.Unmarshal(b, &a)
	a.status, a.header = resp.StatusCode, resp.Header
	return a
}

// tree builds, over HTTP, a root agent (maxDepth 2), its sub-agent and
// the sub-agent's own sub-agent.
func (ts *testServer) tree(t *testing.T) (root, kid, grand held) {
	t.Helper()
	root = ts.rootAgent(t, 2)
	kid, err := ts.subAgent(t, root)
	if err != nil {
		t.Fatal(err)
	}
	grand, err = ts.subAgent(t, kid)
	if err != nil {
		t.Fatal(err)
	}
	return root, kid, grand
}

func (ts *testServer) token(t *testing.T, h held, o client.TokenOptions) (*client.Token, error) {
	t.Helper()
	if o.Resources == nil {
		o.Resources = []string{calendar}
	}
	return client.New(ts.url, nil).Token(context.Background(), h.key, o)
}

// oauthRefusal asserts that err is the token endpoint's OAuth error code
// whose description starts with the agentid reason want and contains
// every string of names.
func oauthRefusal(t *testing.T, what string, err error, code oauth.ErrorCode, want string, names ...string) {
	t.Helper()
	oe, ok := err.(*client.OAuthError)
	if !ok || oe.Code != code || !strings.HasPrefix(oe.Description, want+":") {
		t.Fatalf("%s: %v, want %s %s", what, err, code, want)
	}
	for _, n := range names {
		if !strings.Contains(oe.Description, n) {
			t.Fatalf("%s: description %q does not name %s", what, oe.Description, n)
		}
	}
}

// TestOAuthSubAgentToken: a depth-2 sub-agent's token, by
// client_credentials and by token exchange, carries its chain as RFC 8693
// act claims (the root agent as sub, the agent outermost, its parent
// nested) and every status entry of its credential; the resource server
// answers the chain and audits it, and so does the issuer's grant event.
func TestOAuthSubAgentToken(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	rs, rsAudit := delegationRS(t, ts)
	root, kid, grand := ts.tree(t)

	vp, err := grand.key.Present(client.PresentOptions{Credential: grand.cred, Audience: ts.url})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name string
		opts client.TokenOptions
	}{
		{"client_credentials", client.TokenOptions{}},
		{"token exchange", client.TokenOptions{SubjectToken: vp}},
	} {
		tok, err := ts.token(t, grand, o.opts)
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		_, at, err := oauth.ParseAccessToken(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if at.Subject != root.key.DID || at.ClientID != grand.key.DID || at.CredentialID != grand.id {
			t.Fatalf("%s: sub %s client_id %s credential %s", o.name, at.Subject, at.ClientID, at.CredentialID)
		}
		if got := at.Act.Actors(); !slices.Equal(got, []string{grand.key.DID, kid.key.DID}) {
			t.Fatalf("%s: act %v, want [grandchild child]", o.name, got)
		}
		if len(at.Delegation) != 2 || at.Delegation[0].Holder != root.key.DID || at.Delegation[0].Credential != root.id ||
			at.Delegation[1].Holder != kid.key.DID || at.Delegation[1].Credential != kid.id {
			t.Fatalf("%s: delegation %+v", o.name, at.Delegation)
		}
		// Own pair, then the root's and the child's agent-level pairs.
		if len(at.CredentialStatus) != 6 {
			t.Fatalf("%s: %d status entries, want 6", o.name, len(at.CredentialStatus))
		}
		a := callDelegationRS(t, rs, tok)
		if a.status != http.StatusOK || a.Agent != grand.key.DID || !slices.Equal(a.Chain, []string{root.key.DID, kid.key.DID}) ||
			!slices.Equal(a.Actors, []string{grand.key.DID, kid.key.DID}) {
			t.Fatalf("%s: resource server answered %+v", o.name, a)
		}
	}
	// The act claim as JSON, exactly RFC 8693 §4.1's nesting.
	tok, err := ts.token(t, grand, client.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	raw, _ := b64u.DecodeString(parts[1])
	var claims struct {
		Sub string          `json:"sub"`
		Act json.RawMessage `json:"act"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if want := `{"sub":"` + grand.key.DID + `","act":{"sub":"` + kid.key.DID + `"}}`; string(claims.Act) != want || claims.Sub != root.key.DID {
		t.Fatalf("sub %s act %s, want act %s", claims.Sub, claims.Act, want)
	}
	// A root agent's token has no act and sub = client_id.
	rt, err := ts.token(t, root, client.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, at, _ := oauth.ParseAccessToken(rt.AccessToken); at == nil || at.Act != nil || at.Delegation != nil || at.Subject != root.key.DID ||
		len(at.CredentialStatus) != 2 {
		t.Fatalf("root agent's token: %+v", at)
	}
	// The resource server's audit events carry the chain, the agent as
	// actor.
	evs := rsAudit.events(t)
	if len(evs) != 2 {
		t.Fatalf("%d resource server events, want 2", len(evs))
	}
	for _, ev := range evs {
		if ev.Actor != grand.key.DID || ev.Decision != audit.DecisionAllow || len(ev.Delegation) != 2 ||
			ev.Delegation[0].Holder != root.key.DID || ev.Delegation[1].Credential != kid.id {
			t.Fatalf("resource server event %+v", ev)
		}
	}
	// The issuer's grant events carry it too.
	grants, err := ts.admin.Audit(ctx, client.AuditFilter{Actor: grand.key.DID, Action: issuer.ActionOAuthToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 3 {
		t.Fatalf("%d grant events, want 3", len(grants))
	}
	for _, ev := range grants {
		if ev.Decision != audit.DecisionAllow || ev.Credential != grand.id || len(ev.Delegation) != 2 || ev.Delegation[1].Holder != kid.key.DID {
			t.Fatalf("grant event %+v", ev)
		}
	}
	// Introspection answers the same sub and act.
	rsKey := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: rsKey.DID, Role: api.RoleResource, Name: "calendar"}); err != nil {
		t.Fatal(err)
	}
	if st, in, _ := ts.introspect(t, rsKey, tok.AccessToken); st != 200 || !in.Active || in.Sub != root.key.DID || in.ClientID != grand.key.DID ||
		!slices.Equal(in.Act.Actors(), []string{grand.key.DID, kid.key.DID}) {
		t.Fatalf("introspection %d %+v", st, in)
	}
	// The sub-agent's own (attenuated) grant bounds its tokens: the
	// root holds calendar:write, the grandchild does not.
	_, err = ts.token(t, grand, client.TokenOptions{Scopes: []string{"calendar:write"}})
	oauthRefusal(t, "scope of an ancestor", err, oauth.InvalidScope, "insufficient_scope")
	refused, err := ts.admin.Audit(ctx, client.AuditFilter{Actor: grand.key.DID, Action: issuer.ActionOAuthToken, Decision: audit.DecisionDeny})
	if err != nil || len(refused) != 1 || refused[0].Reason != string(oauth.InvalidScope) || len(refused[0].Delegation) != 2 {
		t.Fatalf("refusal events %+v %v", refused, err)
	}
}

// TestOAuthCascadeThroughTokens: tokens of a depth-2 sub-agent are
// refused at a subscribed resource server within a second, naming the
// ancestor, and are inactive at introspection at once, when the root
// agent is revoked or the middle agent suspended; reinstating the middle
// agent brings them back; no new token is granted meanwhile.
func TestOAuthCascadeThroughTokens(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	rs, _ := delegationRS(t, ts)
	root, kid, grand := ts.tree(t)
	rsKey := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: rsKey.DID, Role: api.RoleResource, Name: "calendar"}); err != nil {
		t.Fatal(err)
	}
	ccTok, err := ts.token(t, grand, client.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vp, _ := grand.key.Present(client.PresentOptions{Credential: grand.cred, Audience: ts.url})
	exTok, err := ts.token(t, grand, client.TokenOptions{SubjectToken: vp})
	if err != nil {
		t.Fatal(err)
	}
	toks := []*client.Token{ccTok, exTok}
	for _, tok := range toks {
		if a := callDelegationRS(t, rs, tok); a.status != http.StatusOK {
			t.Fatalf("before: %+v", a)
		}
	}
	time.Sleep(300 * time.Millisecond) // the feed connects

	// until calls the resource server with every token until each is
	// refused with code, and returns the longest wait.
	until := func(what, code, ancestor string, start time.Time) time.Duration {
		t.Helper()
		var longest time.Duration
		for _, tok := range toks {
			for {
				a := callDelegationRS(t, rs, tok)
				if a.status == http.StatusUnauthorized && a.Code == code {
					if !strings.Contains(a.Detail, ancestor) {
						t.Fatalf("%s: detail %q does not name %s", what, a.Detail, ancestor)
					}
					if ch := strings.Join(a.header.Values("WWW-Authenticate"), " "); !strings.Contains(ch, `error="invalid_token"`) {
						t.Fatalf("%s: challenge %s", what, ch)
					}
					longest = max(longest, time.Since(start))
					break
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("%s: still %+v 5 s after the change", what, a)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		t.Logf("%s reached the resource server in %v", what, longest)
		if longest > time.Second {
			t.Fatalf("%s took %v", what, longest)
		}
		return longest
	}
	active := func(what string, want bool) {
		t.Helper()
		for _, tok := range toks {
			if st, in, _ := ts.introspect(t, rsKey, tok.AccessToken); st != 200 || in.Active != want {
				t.Fatalf("%s: introspection %d active=%v, want %v", what, st, in.Active, want)
			}
		}
	}

	// Suspend the middle agent (its current credential).
	t0 := time.Now()
	if _, err := ts.admin.Suspend(ctx, kid.id); err != nil {
		t.Fatal(err)
	}
	until("suspension of the middle agent", "suspended", kid.key.DID, t0)
	active("middle suspended", false)
	_, err = ts.token(t, grand, client.TokenOptions{})
	oauthRefusal(t, "token under a suspended ancestor", err, oauth.InvalidGrant, "suspended", kid.key.DID)

	// Reinstate it: the same tokens pass again.
	if _, err := ts.admin.Reinstate(ctx, kid.id); err != nil {
		t.Fatal(err)
	}
	active("middle reinstated", true)
	deadline := time.Now().Add(2 * time.Second)
	for _, tok := range toks {
		for a := callDelegationRS(t, rs, tok); a.status != http.StatusOK; a = callDelegationRS(t, rs, tok) {
			if time.Now().After(deadline) {
				t.Fatalf("after reinstating: %+v", a)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := ts.token(t, grand, client.TokenOptions{}); err != nil {
		t.Fatalf("token after reinstating: %v", err)
	}

	// Revoke the root agent's credential.
	t0 = time.Now()
	if _, err := ts.admin.Revoke(ctx, root.id); err != nil {
		t.Fatal(err)
	}
	until("revocation of the root agent", "revoked", root.key.DID, t0)
	active("root revoked", false)
	_, err = ts.token(t, grand, client.TokenOptions{})
	oauthRefusal(t, "token under a revoked ancestor", err, oauth.InvalidGrant, "revoked", root.key.DID)
	vp, _ = grand.key.Present(client.PresentOptions{Credential: grand.cred, Audience: ts.url})
	_, err = ts.token(t, grand, client.TokenOptions{SubjectToken: vp})
	oauthRefusal(t, "exchange under a revoked ancestor", err, oauth.InvalidRequest, "revoked")
	refused, err := ts.admin.Audit(ctx, client.AuditFilter{Actor: grand.key.DID, Action: issuer.ActionOAuthToken, Decision: audit.DecisionDeny})
	if err != nil || len(refused) != 3 {
		t.Fatalf("refusal events: %d %v", len(refused), err)
	}
	exchanges := 0
	for _, ev := range refused {
		// The client_credentials refusals name the ancestor and carry
		// the chain (the records are read); the exchange's is the
		// verifier's refusal of the subject token.
		// The exchange's is invalid_request (RFC 8693 §2.2.2).
		if ev.Reason == string(oauth.InvalidRequest) {
			exchanges++
			continue
		}
		if ev.Reason != string(oauth.InvalidGrant) || (strings.Contains(ev.Detail, "ancestor") && len(ev.Delegation) != 2) {
			t.Fatalf("refusal event %+v", ev)
		}
	}
	if exchanges != 1 {
		t.Fatalf("%d invalid_request refusal events, want the exchange's one", exchanges)
	}
}

// TestOAuthRetiredSubtree: agents of a retired subtree or job get no
// token (invalid_grant, agent_retired, audited), and their tokens stop
// working; an agent under a retired ancestor that was not itself retired
// gets none either.
func TestOAuthRetiredSubtree(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	_, kid, grand := ts.tree(t)
	tok, err := ts.token(t, grand, client.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rsKey := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: rsKey.DID, Role: api.RoleResource, Name: "calendar"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.RetireTree(ctx, kid.key.DID); err != nil {
		t.Fatal(err)
	}
	for _, h := range []held{kid, grand} {
		_, err := ts.token(t, h, client.TokenOptions{})
		oauthRefusal(t, "retired subtree", err, oauth.InvalidGrant, string(issuer.CodeAgentRetired))
		evs, err := ts.admin.Audit(ctx, client.AuditFilter{Actor: h.key.DID, Action: issuer.ActionOAuthToken, Decision: audit.DecisionDeny})
		if err != nil || len(evs) != 1 || evs[0].Reason != string(oauth.InvalidGrant) || !strings.HasPrefix(evs[0].Detail, "agent_retired") {
			t.Fatalf("audit of the refusal: %+v %v", evs, err)
		}
	}
	if _, in, _ := ts.introspect(t, rsKey, tok.AccessToken); in.Active {
		t.Fatal("a retired sub-agent's token is still active")
	}

	// A job: retire by task; and an agent under a retired ancestor that
	// is not retired itself (retired alone, not as a tree).
	root2, kid2, grand2 := ts.tree(t)
	if _, err := ts.admin.Retire(ctx, kid2.key.DID); err != nil {
		t.Fatal(err)
	}
	_, err = ts.token(t, grand2, client.TokenOptions{})
	oauthRefusal(t, "under a retired ancestor", err, oauth.InvalidGrant, "revoked", kid2.key.DID)
	if _, err := ts.token(t, root2, client.TokenOptions{}); err != nil {
		t.Fatalf("the root above a retired agent: %v", err)
	}

	k := newKey(t)
	proof, _ := ts.admin.Proof(ctx, k)
	if _, err := ts.admin.Issue(ctx, api.IssueRequest{Agent: k.DID, Proof: proof, Scopes: []string{"calendar:read"},
		Audiences: []string{calendar}, Owner: "o", Purpose: "p", Task: "job-9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.RetireTask(ctx, "job-9"); err != nil {
		t.Fatal(err)
	}
	_, err = ts.token(t, held{key: k}, client.TokenOptions{})
	oauthRefusal(t, "retired job", err, oauth.InvalidGrant, string(issuer.CodeAgentRetired))
}

// TestOAuthApprovalPending: a sub-agent whose grant waits for approval has
// no credential and gets no token (invalid_client: not a registered
// agent), by either grant, nor once denied; once approved it does.
func TestOAuthApprovalPending(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	ok := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: ok.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"},
		MaxDepth: 1, NeedApproval: []string{"calendar:write"}}); err != nil {
		t.Fatal(err)
	}
	orch := client.New(ts.url, ok)
	parent := newKey(t)
	proof, _ := orch.Proof(ctx, parent)
	pend, err := orch.Issue(ctx, api.IssueRequest{Agent: parent.DID, Proof: proof, Scopes: []string{"calendar:read", "calendar:write"},
		Audiences: []string{calendar}, Owner: "o", Purpose: "p", TTL: api.Duration(30 * time.Minute)})
	if err != nil || pend.Approval == "" {
		t.Fatalf("root: %+v %v", pend, err)
	}
	// The root agent itself is pending: no token.
	_, err = ts.token(t, held{key: parent}, client.TokenOptions{})
	oauthRefusal(t, "pending root agent", err, oauth.InvalidClient, "unknown_key")
	if _, err := ts.admin.Approve(ctx, pend.Approval, "ok"); err != nil {
		t.Fatal(err)
	}
	a, err := orch.Approval(ctx, pend.Approval, 0)
	if err != nil || a.Issued == nil {
		t.Fatalf("approval: %+v %v", a, err)
	}
	if _, err := ts.token(t, held{key: parent}, client.TokenOptions{}); err != nil {
		t.Fatalf("approved root agent: %v", err)
	}
	// Its sub-agent asking calendar:write waits too.
	anon := client.New(ts.url, nil)
	child := newKey(t)
	cp, _ := anon.ProofFor(ctx, child, parent.DID)
	sub, err := anon.IssueSubAgent(ctx, parent, a.Issued.Credential, api.IssueRequest{Agent: child.DID, Proof: cp,
		Scopes: []string{"calendar:write"}, Audiences: []string{calendar}, Owner: "o", Purpose: "p"})
	if err != nil || sub.Approval == "" {
		t.Fatalf("sub-agent: %+v %v", sub, err)
	}
	_, err = ts.token(t, held{key: child}, client.TokenOptions{})
	oauthRefusal(t, "pending sub-agent", err, oauth.InvalidClient, "unknown_key")
	// A presentation without a credential is no subject token.
	vp, _ := child.Present(client.PresentOptions{Audience: ts.url})
	_, err = ts.token(t, held{key: child}, client.TokenOptions{SubjectToken: vp})
	if oe, ok := err.(*client.OAuthError); !ok || oe.Code != oauth.InvalidRequest {
		t.Fatalf("exchange of a credential-less presentation: %v", err)
	}
	evs, err := ts.admin.Audit(ctx, client.AuditFilter{Action: issuer.ActionOAuthToken, Decision: audit.DecisionDeny})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Actor == child.DID {
			n++
		}
	}
	if n == 0 {
		t.Fatal("the pending sub-agent's refusals are not audited")
	}
	// Denied: still nothing.
	child2 := newKey(t)
	cp2, _ := anon.ProofFor(ctx, child2, parent.DID)
	sub2, err := anon.IssueSubAgent(ctx, parent, a.Issued.Credential, api.IssueRequest{Agent: child2.DID, Proof: cp2,
		Scopes: []string{"calendar:write"}, Audiences: []string{calendar}, Owner: "o", Purpose: "p"})
	if err != nil || sub2.Approval == "" {
		t.Fatalf("second sub-agent: %+v %v", sub2, err)
	}
	if _, err := ts.admin.Deny(ctx, sub2.Approval, "no"); err != nil {
		t.Fatal(err)
	}
	_, err = ts.token(t, held{key: child2}, client.TokenOptions{})
	oauthRefusal(t, "denied sub-agent", err, oauth.InvalidClient, "unknown_key")

	if _, err := ts.admin.Approve(ctx, sub.Approval, "ok"); err != nil {
		t.Fatal(err)
	}
	tok, err := ts.token(t, held{key: child}, client.TokenOptions{})
	if err != nil {
		t.Fatalf("approved sub-agent: %v", err)
	}
	if _, at, _ := oauth.ParseAccessToken(tok.AccessToken); at == nil || at.Subject != parent.DID || at.Scope != "calendar:write" {
		t.Fatalf("approved sub-agent's token: %+v", at)
	}
}
