package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
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
}

// postVia posts a form to replica r, as postForm does to the first.
func (r *replica) postVia(t *testing.T, path string, form url.Values, hdr map[string]string) tokenAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(b, &a.ok)
		_ = json.Unmarshal(b, &a.introspection)
	} else {
		_ = json.Unmarshal(b, &a.err)
	}
	return a
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
