package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

func statusCode(err error) int {
	var p *client.Error
	if errors.As(err, &p) {
		return p.StatusCode
	}
	return 0
}

// TestHTTPIngestOtherPrincipalsAgent: 403 forbidden for a report about an
// agent the orchestrator did not create.
func TestHTTPIngestOtherPrincipalsAgent(t *testing.T) {
	ts := start(t, t.TempDir())
	orch := ts.addOrchestrator(t)
	adminAgent := newKey(t)
	if _, err := ts.issue(t, ts.admin, adminAgent, []string{"calendar:read"}); err != nil {
		t.Fatal(err)
	}
	before := ts.head(t)
	st, body := ts.postEvents(t, orch, verifyLine(adminAgent.DID, 1, ""))
	if st != http.StatusForbidden || !strings.Contains(body, `"code":"forbidden"`) {
		t.Fatalf("%d %s", st, body)
	}
	if after := ts.head(t); after != before+1 {
		t.Fatalf("audit head moved from %d to %d, want the denial only", before, after)
	}
}

// TestHTTPRemovedPrincipal: removing an orchestrator suspends its agents
// (refresh 403 suspended; reinstated by an admin, 403 principal_removed)
// and the inventory shows them orphaned.
func TestHTTPRemovedPrincipal(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	orch := ts.addOrchestrator(t)
	agent := newKey(t)
	out, err := ts.issue(t, client.New(ts.url, orch), agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.admin.Do(ctx, http.MethodDelete, "/v1/principals/"+url.PathEscape(orch.DID), nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = client.New(ts.url, nil).Refresh(ctx, agent, out.Credential)
	if statusCode(err) != http.StatusForbidden || problemCode(err) != "suspended" {
		t.Fatalf("refresh after removal: %v", err)
	}
	if err := ts.admin.Do(ctx, http.MethodPost, "/v1/credentials/"+url.PathEscape(out.ID)+"/reinstate", nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = client.New(ts.url, nil).Refresh(ctx, agent, out.Credential)
	if statusCode(err) != http.StatusForbidden || problemCode(err) != "principal_removed" {
		t.Fatalf("refresh after reinstatement: %v", err)
	}
	a, err := ts.admin.Agent(ctx, agent.DID)
	if err != nil || a.Status != "orphaned" {
		t.Fatalf("agent %+v %v, want orphaned", a, err)
	}
}

// TestHTTPReinstateAdminSuspension: 403 forbidden when an orchestrator
// lifts an admin's suspension.
func TestHTTPReinstateAdminSuspension(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	orch := ts.addOrchestrator(t)
	oc := client.New(ts.url, orch)
	out, err := ts.issue(t, oc, newKey(t), []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/credentials/" + url.PathEscape(out.ID) + "/"
	if err := ts.admin.Do(ctx, http.MethodPost, path+"suspend", nil, nil); err != nil {
		t.Fatal(err)
	}
	err = oc.Do(ctx, http.MethodPost, path+"reinstate", nil, nil)
	if statusCode(err) != http.StatusForbidden || problemCode(err) != "forbidden" {
		t.Fatalf("orchestrator reinstating an admin's suspension: %v", err)
	}
	var cr api.Credential
	if err := ts.admin.Do(ctx, http.MethodPost, path+"reinstate", nil, &cr); err != nil || cr.Suspended {
		t.Fatalf("admin reinstate: %+v %v", cr, err)
	}
}

// TestHTTPRefreshRateLimited: 429 rate_limited with Retry-After once the
// burst is spent.
func TestHTTPRefreshRateLimited(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	cur := out.Credential
	anon := client.New(ts.url, nil)
	for i := range 5 {
		next, err := anon.Refresh(ctx, agent, cur)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		cur = next.Credential
	}
	tok, err := agent.Present(client.PresentOptions{Credential: cur, Audience: ts.url, Method: http.MethodPost, URL: ts.url + "/v1/credentials/refresh"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.url+"/v1/credentials/refresh", nil)
	req.Header.Set("Authorization", "VP "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p api.Problem
	_ = jsonDecode(resp, &p)
	if resp.StatusCode != http.StatusTooManyRequests || p.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %+v Retry-After %q", resp.StatusCode, p, resp.Header.Get("Retry-After"))
	}
}

// TestHTTPProofForAnotherPrincipal: 400 proof_principal_mismatch.
func TestHTTPProofForAnotherPrincipal(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	orch := ts.addOrchestrator(t)
	agent := newKey(t)
	proof, err := ts.admin.Proof(ctx, agent) // made for the admin
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.New(ts.url, orch).Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:read"},
		Audiences: []string{"https://calendar.example.com"}, Owner: "o", Purpose: "p"})
	if statusCode(err) != http.StatusBadRequest || problemCode(err) != "proof_principal_mismatch" {
		t.Fatalf("issue with the admin's proof: %v", err)
	}
}

// TestHTTPBodyDigest: a principal call whose htd does not match the body
// is 401 request_mismatch; the client's own calls carry a matching htd.
func TestHTTPBodyDigest(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	u := ts.url + "/v1/principals"
	sent := []byte(`{"did":"` + newKey(t).DID + `","role":"orchestrator","ceiling":["calendar:*"]}`)
	signed := []byte(`{"did":"` + newKey(t).DID + `","role":"orchestrator","ceiling":["calendar:read"]}`)
	post := func(htdOf []byte) *http.Response {
		tok, err := ts.admin.Key().Present(client.PresentOptions{Audience: ts.url, Method: http.MethodPost, URL: u,
			BodyDigest: client.BodyDigest(htdOf)})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(sent))
		req.Header.Set("Authorization", "VP "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post(signed)
	var p api.Problem
	_ = jsonDecode(resp, &p)
	if resp.StatusCode != http.StatusUnauthorized || p.Code != "request_mismatch" {
		t.Fatalf("swapped body: %d %+v", resp.StatusCode, p)
	}
	if resp := post(sent); resp.StatusCode != http.StatusCreated {
		t.Fatalf("matching body: %d", resp.StatusCode)
	}
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
