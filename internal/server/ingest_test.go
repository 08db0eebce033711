package server

import (
	"context"
	"fmt"
	"github.com/agentid/agentid/api"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
)

// addOrchestrator registers a new orchestrator key.
func (ts *testServer) addOrchestrator(t *testing.T) *client.Key {
	t.Helper()
	orch := newKey(t)
	if err := ts.admin.Do(t.Context(), http.MethodPost, "/v1/principals",
		api.Principal{DID: orch.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"}}, nil); err != nil {
		t.Fatal(err)
	}
	return orch
}

// signerFor is a ForwardOptions.Sign for key at this server.
func (ts *testServer) signerFor(key *client.Key) func(method, url string) (string, error) {
	return func(method, url string) (string, error) {
		return key.Present(client.PresentOptions{Audience: ts.url, Method: method, URL: url})
	}
}

// postEvents posts a raw body to the ingest endpoint, signed by key (none
// when nil), and returns the status and the body of the answer.
func (ts *testServer) postEvents(t *testing.T, key *client.Key, body string) (int, string) {
	t.Helper()
	u := ts.url + ingestRoute
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jsonl")
	if key != nil {
		tok, err := ts.signerFor(key)(http.MethodPost, u)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "VP "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (ts *testServer) head(t *testing.T) uint64 {
	t.Helper()
	seq, _, err := ts.app.Audit.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// verifyLine is a verify event about subject (which the reporting
// principal must have created, unless it is an admin).
func verifyLine(subject string, i int, extra string) string {
	return fmt.Sprintf(`{"time":"2026-11-22T18:00:%02dZ","requestId":"r%d","actor":"did:key:zAgent","action":"verify",`+
		`"subject":%q,"resource":"https://api.example.com","scopes":["calendar:read"],"decision":"deny","reason":"revoked"%s}`, i%60, i, subject, extra)
}

// agentOf registers a fresh agent through orchestrator orch and returns its
// DID.
func (ts *testServer) agentOf(t *testing.T, orch *client.Key) string {
	t.Helper()
	agent := newKey(t)
	if _, err := ts.issue(t, client.New(ts.url, orch), agent, []string{"calendar:read"}); err != nil {
		t.Fatal(err)
	}
	return agent.DID
}

// TestIngestForwarded: events recorded on an audit.Forwarder signed by a
// registered orchestrator key land in the issuer's trail, in order, with
// the orchestrator as actor.
func TestIngestForwarded(t *testing.T) {
	ts := start(t, t.TempDir())
	orch := ts.addOrchestrator(t)
	agent := newKey(t)
	if _, err := ts.issue(t, client.New(ts.url, orch), agent, []string{"calendar:read"}); err != nil {
		t.Fatal(err)
	}
	fwd, err := audit.Forward(audit.ForwardOptions{URL: ts.url, Sign: ts.signerFor(orch), MaxBatch: 16, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Within the issuer's clock ± issuer.IngestSkew, so kept as sent.
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	const n = 40
	for i := range n {
		ev := &audit.Event{Time: t0.Add(time.Duration(i) * time.Second), RequestID: "r" + strconv.Itoa(i), Action: audit.ActionVerify,
			Actor: agent.DID, Subject: agent.DID, Credential: "urn:uuid:c", Resource: "https://api.example.com",
			Scopes: []string{"calendar:read"}, Decision: audit.DecisionAllow, SourceIP: "10.0.0.1"}
		if i%5 == 0 {
			ev.Decision, ev.Reason, ev.Detail = audit.DecisionDeny, "revoked", "revocation bit is set"
		}
		if err := fwd.Record(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := fwd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fwd.Err(); err != nil {
		t.Fatalf("delivery error: %v", err)
	}

	var out struct{ Events []audit.Event }
	if err := ts.admin.Do(t.Context(), http.MethodGet, "/v1/audit?action=verify&actor="+orch.DID, nil, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != n {
		t.Fatalf("%d forwarded events in the trail, want %d", len(out.Events), n)
	}
	for i, ev := range out.Events {
		wantDetail := "claimed actor: " + agent.DID
		if i%5 == 0 {
			wantDetail += "; revocation bit is set"
		}
		if ev.RequestID != "r"+strconv.Itoa(i) || ev.Actor != orch.DID || ev.Subject != agent.DID ||
			!ev.Time.Equal(t0.Add(time.Duration(i)*time.Second)) || ev.Detail != wantDetail ||
			ev.SourceIP != "10.0.0.1" || !slices.Equal(ev.Scopes, []string{"calendar:read"}) || ev.Seq == 0 || !ev.Reported {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	// The trail still verifies.
	var rep audit.VerifyReport
	if err := ts.admin.Do(t.Context(), http.MethodGet, "/v1/audit/verify", nil, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.LastSeq < n {
		t.Fatalf("chain after ingest: %+v", rep)
	}
}

// TestIngestRefusesBadLines: one bad line refuses the whole batch and
// none of its events is appended; the trail records the refusal itself,
// as it does every refusal of the issuer API.
func TestIngestRefusesBadLines(t *testing.T) {
	ts := start(t, t.TempDir())
	orch := ts.addOrchestrator(t)
	agent := ts.agentOf(t, orch)
	verifyLine := func(i int, extra string) string { return verifyLine(agent, i, extra) }
	good := verifyLine(1, "")
	for _, c := range []struct{ name, body, want string }{
		{"unknown member", good + "\n" + verifyLine(2, `,"extra":1`), "line 2"},
		{"other action", good + "\n" + strings.Replace(verifyLine(2, ""), `"verify"`, `"agent.issue"`, 1), "line 2"},
		{"bad decision", good + "\n" + strings.Replace(verifyLine(2, ""), `"deny"`, `"maybe"`, 1), "line 2"},
		{"not JSON", good + "\n\n" + "hello", "line 3"},
		{"trailing data", good + " {}", "line 1"},
		{"array", "[" + good + "]", "line 1"},
		{"null", "null", "line 1"},
		{"empty", "\n\n", "no events"},
		// Passes decoding but not the log's own checks: refused inside the
		// transaction, which rolls back the good line before it.
		{"event too large", good + "\n" + verifyLine(2, `,"detail":"`+strings.Repeat("x", audit.MaxEventSize)+`"`), "line 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ts.head(t)
			st, body := ts.postEvents(t, orch, c.body)
			if st != http.StatusBadRequest || !strings.Contains(body, c.want) || !strings.Contains(body, api.CodeInvalidRequest) {
				t.Fatalf("%d %s", st, body)
			}
			if after := ts.head(t); after != before+1 {
				t.Fatalf("audit head moved from %d to %d, want one denial", before, after)
			}
			var out struct{ Events []audit.Event }
			if err := ts.admin.Do(t.Context(), http.MethodGet, fmt.Sprintf("/v1/audit?after=%d", before), nil, &out); err != nil {
				t.Fatal(err)
			}
			if len(out.Events) != 1 || out.Events[0].Action != audit.ActionAuditIngest || out.Events[0].Decision != audit.DecisionDeny ||
				out.Events[0].Reason != api.CodeInvalidRequest || out.Events[0].Actor != orch.DID {
				t.Fatalf("events after the refusal: %+v", out.Events)
			}
		})
	}
}

// TestIngestAuth: the endpoint needs a registered principal.
func TestIngestAuth(t *testing.T) {
	ts := start(t, t.TempDir())
	body := verifyLine("did:key:zAgent", 1, "")
	if st, b := ts.postEvents(t, nil, body); st != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d %s", st, b)
	}
	if st, b := ts.postEvents(t, newKey(t), body); st != http.StatusUnauthorized || !strings.Contains(b, api.CodeUnknownPrincipal) {
		t.Fatalf("unknown principal: %d %s", st, b)
	}
	// The admin may forward too; the actor is then the admin.
	admin := ts.admin.Key()
	if st, b := ts.postEvents(t, admin, body); st != http.StatusAccepted || b != `{"accepted":1}` {
		t.Fatalf("admin: %d %s", st, b)
	}
	var out struct{ Events []audit.Event }
	if err := ts.admin.Do(t.Context(), http.MethodGet, "/v1/audit?action=verify", nil, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || out.Events[0].Actor != admin.DID || out.Events[0].RequestID != "r1" {
		t.Fatalf("events: %+v", out.Events)
	}
}

// TestIngestBodyLimit: the ingest route takes bodies up to MaxIngestBytes,
// beyond the MaxBodyBytes of every other route.
func TestIngestBodyLimit(t *testing.T) {
	ts := start(t, t.TempDir())
	orch := ts.addOrchestrator(t)
	agent := ts.agentOf(t, orch)
	verifyLine := func(i int, extra string) string { return verifyLine(agent, i, extra) }
	pad := `,"detail":"` + strings.Repeat("x", 1000) + `"`
	var b strings.Builder
	n := 0
	for b.Len() < 4*MaxBodyBytes {
		n++
		b.WriteString(verifyLine(n, pad) + "\n")
	}
	if st, body := ts.postEvents(t, orch, b.String()); st != http.StatusAccepted || body != fmt.Sprintf(`{"accepted":%d}`, n) {
		t.Fatalf("%d bytes: %d %s", b.Len(), st, body)
	}
	before := ts.head(t)
	for b.Len() <= MaxIngestBytes {
		n++
		b.WriteString(verifyLine(n, pad) + "\n")
	}
	if st, body := ts.postEvents(t, orch, b.String()); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d bytes: %d %s", b.Len(), st, body)
	}
	if after := ts.head(t); after != before {
		t.Fatalf("audit head moved from %d to %d", before, after)
	}
	// Other routes keep their bound.
	err := ts.admin.Do(t.Context(), http.MethodPost, "/v1/principals", map[string]any{"did": strings.Repeat("x", MaxBodyBytes+1)}, nil)
	if problemCode(err) != "too_large" {
		t.Fatalf("other route over MaxBodyBytes: %v", err)
	}
}
