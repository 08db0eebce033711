package server

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/console"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
)

// Two-replica tests of the features that keep per-process state next to
// the shared database: approvals' feed and long polls, DPoP nonces, OAuth
// tokens, delegation, console sessions (docs/deploy.md).

// TestReplicasApprovals: a request made on A reaches B's approval feed;
// B's long poll returns when A approves; a denial on A reaches B's feed.
func TestReplicasApprovals(t *testing.T) {
	r := startReplicas(t, 2)
	a, b := r[0], r[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ok := newKey(t)
	if _, err := a.admin.AddPrincipal(ctx, api.Principal{DID: ok.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"},
		NeedApproval: []string{"calendar:write"}}); err != nil {
		t.Fatal(err)
	}
	orchA := client.New(a.url, ok, client.WithHTTPClient(a.hc))
	orchB := client.New(b.url, ok, client.WithHTTPClient(b.hc))

	events := make(chan string, 8)
	go func() {
		_ = b.admin.ApprovalEvents(ctx, func(ev string, ap *api.Approval) error {
			events <- ev + " " + ap.ID
			return nil
		})
	}()
	consoleEvents := b.consoleApprovalFeed(ctx, t)
	time.Sleep(300 * time.Millisecond)
	want := func(ev string) {
		t.Helper()
		select {
		case got := <-events:
			if got != ev {
				t.Fatalf("B's feed: %q, want %q", got, ev)
			}
		case <-time.After(time.Second):
			t.Fatalf("B's feed: no %q within 1s", ev)
		}
	}
	request := func() string {
		t.Helper()
		agent := newKey(t)
		proof, err := orchA.Proof(ctx, agent)
		if err != nil {
			t.Fatal(err)
		}
		res, err := orchA.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:write"},
			Audiences: []string{calendar}, Owner: "o", Purpose: "p"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Approval == "" {
			t.Fatalf("issue: %+v, want a pending approval", res)
		}
		return res.Approval
	}

	id := request()
	want("pending " + id)
	waitEvent(t, consoleEvents, id, time.Second)

	got := make(chan *api.Approval, 1)
	go func() {
		ap, err := orchB.Approval(ctx, id, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- ap
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := a.admin.Approve(ctx, id, "ok"); err != nil {
		t.Fatal(err)
	}
	select {
	case ap := <-got:
		if ap == nil || ap.Status != api.ApprovalApproved || ap.Issued == nil {
			t.Fatalf("B's long poll: %+v", ap)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("B's long poll did not return within 2s of the approval on A")
	}
	want("approved " + id)

	id2 := request()
	want("pending " + id2)
	if _, err := a.admin.Deny(ctx, id2, "no"); err != nil {
		t.Fatal(err)
	}
	want("denied " + id2)
	waitEvent(t, consoleEvents, `"status":"denied"`, time.Second)
}

// consoleApprovalFeed signs the admin in to r's console and follows its
// approval feed, returning the data lines.
func (r *replica) consoleApprovalFeed(ctx context.Context, t *testing.T) <-chan string {
	t.Helper()
	admin := r.admin.Key()
	link, err := console.SignInLink(admin.Signer, admin.DID, r.url, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := r.consoleDo(t, http.MethodGet, strings.TrimPrefix(link, r.url), nil, nil)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "agentid_console" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("console sign-in: %d", resp.StatusCode)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/console/approvals/events", nil)
	req.AddCookie(cookie)
	resp, err = (&http.Client{Transport: r.hc.Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("console approval feed: %d", resp.StatusCode)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				out <- strings.TrimSpace(d)
			}
		}
	}()
	return out
}

// postVia posts a form to replica r, as postForm does to the first.
func (r *replica) postVia(t *testing.T, path string, form url.Values, hdr map[string]string) tokenAnswer {
	t.Helper()
	return postFormTo(t, r.hc, r.url, path, form, hdr)
}

// introspectVia asks replica r about token, as caller.
func (r *replica) introspectVia(t *testing.T, caller *client.Key, token string) tokenAnswer {
	t.Helper()
	a, err := caller.ClientAssertion(r.url + issuer.IntrospectPath)
	if err != nil {
		t.Fatal(err)
	}
	return r.postVia(t, issuer.IntrospectPath, url.Values{"token": {token}, "client_id": {caller.DID},
		"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {a}}, nil)
}

// TestReplicasOAuth: a DPoP server nonce from A is accepted by B; a client
// assertion used on B is refused replayed on A; a token issued by B
// introspects active on A; revoked on A (RFC 7009), it is inactive on B.
func TestReplicasOAuth(t *testing.T) {
	r := startReplicasWith(t, 2, Config{OAuthDPoPNonce: true})
	a, b := r[0], r[1]
	ctx := context.Background()
	rsKey := newKey(t)
	if _, err := a.admin.AddPrincipal(ctx, api.Principal{DID: rsKey.DID, Role: api.RoleResource, Name: "calendar"}); err != nil {
		t.Fatal(err)
	}
	k, _ := a.oauthAgent(t)
	tokenURL := a.tokenURL()

	// A nonce of A.
	ans := a.postVia(t, issuer.TokenPath, a.tokenForm(t, k), map[string]string{"DPoP": proof(t, k.PrivateKey(), http.MethodPost, tokenURL, "")})
	nonce := ans.header.Get("DPoP-Nonce")
	if ans.status != 400 || ans.err.Error != oauth.UseDPoPNonce || nonce == "" {
		t.Fatalf("A without a nonce: %d %+v nonce %q", ans.status, ans.err, nonce)
	}
	// Used on B.
	form := a.tokenForm(t, k)
	p, err := oauth.NewProof(k.PrivateKey(), oauth.ProofOptions{Method: http.MethodPost, URL: tokenURL, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	ans = b.postVia(t, issuer.TokenPath, form, map[string]string{"DPoP": p})
	if ans.status != 200 || ans.ok.AccessToken == "" {
		t.Fatalf("B with A's nonce: %d %+v", ans.status, ans.err)
	}
	tok := ans.ok.AccessToken
	// The same request again on A: the assertion was used on B.
	if ans := a.postVia(t, issuer.TokenPath, form, map[string]string{"DPoP": p}); ans.status != 401 || ans.err.Error != oauth.InvalidClient {
		t.Fatalf("B's request replayed to A: %d %+v, want 401 invalid_client", ans.status, ans.err)
	}

	if ans := a.introspectVia(t, rsKey, tok); ans.status != 200 || !ans.introspection.Active || ans.introspection.Sub != k.DID {
		t.Fatalf("B's token introspected on A: %d %+v", ans.status, ans.introspection)
	}
	ca, err := k.ClientAssertion(a.url + issuer.RevokePath)
	if err != nil {
		t.Fatal(err)
	}
	if ans := a.postVia(t, issuer.RevokePath, url.Values{"token": {tok}, "client_id": {k.DID},
		"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {ca}}, nil); ans.status != 200 {
		t.Fatalf("revoke on A: %d %+v", ans.status, ans.err)
	}
	if ans := b.introspectVia(t, rsKey, tok); ans.status != 200 || ans.introspection.Active {
		t.Fatalf("token revoked on A, introspected on B: %d %+v, want inactive", ans.status, ans.introspection)
	}
}

// subAgentVia asks, as parent, replica r for a sub-agent.
func (r *replica) subAgentVia(parent held) (held, error) {
	ctx := context.Background()
	cl := client.New(r.url, nil, client.WithHTTPClient(r.hc))
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, err := client.KeyFromSigner(priv)
	if err != nil {
		return held{}, err
	}
	proof, err := cl.ProofFor(ctx, k, parent.key.DID)
	if err != nil {
		return held{}, err
	}
	iss, err := cl.IssueSubAgent(ctx, parent.key, parent.cred, api.IssueRequest{Agent: k.DID, Proof: proof,
		Scopes: []string{"calendar:read"}, Audiences: []string{calendar}, Owner: "team-a", Purpose: "read"})
	if err != nil {
		return held{}, err
	}
	return held{k, iss.Credential, iss.ID}, nil
}

// TestReplicasCascade: sub-agents issued on B under a root issued on A;
// the root's credential revoked on A: a descendant's presentation is
// refused revoked by B's /v1/verify at once, and by a verifier following
// B's change feed within a second.
func TestReplicasCascade(t *testing.T) {
	r := startReplicas(t, 2)
	a, b := r[0], r[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := a.rootAgent(t, 3)
	kid, err := b.subAgentVia(root)
	if err != nil {
		t.Fatal(err)
	}
	grand, err := b.subAgentVia(kid)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{Issuers: []string{a.app.Issuer.DID()}, HTTPClient: b.hc,
		StatusEvents: []string{b.url + "/v1/status/events"}, AllowHTTPLocalhost: true}, verifier.WithAudience(calendar))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []held{kid, grand} {
		if _, err := verifyAt(t, v, h); err != nil {
			t.Fatalf("before: %v", err)
		}
	}
	present := func(h held) string {
		vp, err := h.key.Present(client.PresentOptions{Credential: h.cred, Audience: calendar})
		if err != nil {
			t.Fatal(err)
		}
		return vp
	}
	if res := b.verifyOn(t, present(grand)); !res.Valid {
		t.Fatalf("B before: %+v", res.Error)
	}
	time.Sleep(300 * time.Millisecond) // the feed connects

	var cr api.Credential
	if err := a.admin.Do(ctx, http.MethodPost, "/v1/credentials/"+root.id+"/revoke", nil, &cr); err != nil || !cr.Revoked {
		t.Fatalf("revoke the root on A: %v %+v", err, cr)
	}
	for _, h := range []held{kid, grand} {
		if res := b.verifyOn(t, present(h)); res.Valid || res.Error == nil || res.Error.Code != "revoked" {
			t.Fatalf("B's /v1/verify right after the root's revocation on A: %+v %+v", res, res.Error)
		}
	}
	took, errs := untilRefused(t, v, reason.Revoked, kid, grand)
	t.Logf("the revocation on A reached a verifier following B's feed in %v", took)
	if took > time.Second {
		t.Fatalf("took %v", took)
	}
	for _, err := range errs {
		if !strings.Contains(detail(err), root.key.DID) {
			t.Fatalf("detail %q does not name the root", detail(err))
		}
	}
}

// TestReplicasRetireTreeWhileIssuing: while B issues sub-agents under a
// tree as fast as it can, A retires the tree: every sub-agent B issued is
// retired, and B issues none after (no sub-agent under a retired
// ancestor). The same for retiring a job (--task).
func TestReplicasRetireTreeWhileIssuing(t *testing.T) {
	r := startReplicas(t, 2)
	a, b := r[0], r[1]
	ctx := context.Background()
	for _, mode := range []string{"tree", "task"} {
		t.Run(mode, func(t *testing.T) {
			root := a.taskRoot(t, "job-"+mode)
			kid, err := b.subAgentVia(root)
			if err != nil {
				t.Fatal(err)
			}
			var issued []held
			started, done := make(chan struct{}), make(chan error, 1)
			go func() {
				for {
					h, err := b.subAgentVia(kid)
					if err != nil {
						done <- err
						return
					}
					if issued = append(issued, h); len(issued) == 1 {
						close(started)
					}
				}
			}()
			select {
			case <-started:
			case err := <-done:
				t.Fatalf("no sub-agent issued on B: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
			var retired []api.Agent
			if mode == "tree" {
				retired, err = a.admin.RetireTree(ctx, root.key.DID)
			} else {
				retired, err = a.admin.RetireTask(ctx, "job-"+mode)
			}
			if err != nil {
				t.Fatal(err)
			}
			refusal := <-done
			if c := problemCode(refusal); c == "" {
				t.Fatalf("B's issuance ended with %v, not a refusal", refusal)
			}
			t.Logf("%d sub-agents issued on B before the retirement on A (%d agents retired); then %s", len(issued), len(retired), problemCode(refusal))
			for _, h := range append([]held{root, kid}, issued...) {
				ag, err := a.admin.Agent(ctx, h.key.DID)
				if err != nil || !ag.Retired {
					t.Fatalf("agent %s after the retirement: %+v %v, want retired", h.key.DID, ag, err)
				}
			}
			if _, err := b.subAgentVia(kid); err == nil {
				t.Fatal("B issued a sub-agent under a retired tree")
			}
		})
	}
}

// taskRoot issues, as the admin, a root agent of job task whose tree may
// be 3 deep.
func (ts *testServer) taskRoot(t testing.TB, task string) held {
	t.Helper()
	ctx := context.Background()
	k := newKey(t)
	proof, err := ts.admin.Proof(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := ts.admin.Issue(ctx, api.IssueRequest{Agent: k.DID, Proof: proof, Scopes: []string{"calendar:read", "calendar:write"},
		Audiences: []string{calendar}, Owner: "team-a", Purpose: "plan", Task: task,
		TTL: api.Duration(30 * time.Minute), MaxDepth: 3})
	if err != nil {
		t.Fatal(err)
	}
	return held{k, iss.Credential, iss.ID}
}

// consoleDo sends a console request to replica r with cookie (if any),
// as the console's own page would for a POST.
func (r *replica) consoleDo(t *testing.T, method, path string, form url.Values, cookie *http.Cookie) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, r.url+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", r.url)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	hc := &http.Client{Transport: r.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestReplicasConsoleSessions: a console session opened on A works on B;
// the sign-in link used on A is refused on B; signed out on A, the cookie
// is refused on B.
func TestReplicasConsoleSessions(t *testing.T) {
	r := startReplicas(t, 2)
	a, b := r[0], r[1]
	admin := a.admin.Key()
	link, err := console.SignInLink(admin.Signer, admin.DID, a.url, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(link, a.url)
	resp, body := a.consoleDo(t, http.MethodGet, path, nil, nil)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "agentid_console" {
			cookie = c
		}
	}
	if resp.StatusCode != 200 || cookie == nil {
		t.Fatalf("sign-in on A: %d %s %q", resp.StatusCode, resp.Header.Get("X-Agentid-Code"), body)
	}
	resp, body = b.consoleDo(t, http.MethodGet, "/console/", nil, cookie)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("A's session on B: %d %s", resp.StatusCode, resp.Header.Get("X-Agentid-Code"))
	}
	if resp, _ := b.consoleDo(t, http.MethodGet, path, nil, nil); resp.StatusCode != 401 || resp.Header.Get("X-Agentid-Code") != "replayed" {
		t.Fatalf("the link used on A, on B: %d %q, want 401 replayed", resp.StatusCode, resp.Header.Get("X-Agentid-Code"))
	}
	if resp, _ := a.consoleDo(t, http.MethodPost, "/console/signout", url.Values{"csrf": {m[1]}}, cookie); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out on A: %d %s", resp.StatusCode, resp.Header.Get("X-Agentid-Code"))
	}
	if resp, _ := b.consoleDo(t, http.MethodGet, "/console/", nil, cookie); resp.StatusCode != 401 || resp.Header.Get("X-Agentid-Code") != "no_session" {
		t.Fatalf("signed out on A, on B: %d %q, want 401 no_session", resp.StatusCode, resp.Header.Get("X-Agentid-Code"))
	}
}
