package verifier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// TestAuditOneEventPerDecision checks that WithAudit records exactly one
// event per Verify call, allowed or denied, with the exact reason code.
func TestAuditOneEventPerDecision(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t, WithAudit(audit.JSONLines(&buf)))
	cred := e.credential(e.agent.DID, nil)
	revoked := e.credential(e.agent.DID, nil)
	e.status.Set(verifiertest.StatusIndex(t, revoked, "revocation"), reason.New(reason.Revoked, "bit set"))
	first := e.present(e.agent, cred, nil)

	steps := []struct {
		name    string
		tok     string
		scopes  []string
		want    reason.Code // "" when allowed
		subject string      // the authenticated holder, if any
	}{
		{"allowed", first, []string{"calendar:read"}, "", e.agent.DID},
		{"replayed", first, []string{"calendar:read"}, reason.Replayed, e.agent.DID}, // signature checked: the holder is named
		{"garbage", "not-a-token", nil, reason.Malformed, ""},
		{"missing scope", e.present(e.agent, cred, nil), []string{"calendar:delete"}, reason.InsufficientScope, e.agent.DID},
		{"revoked", e.present(e.agent, revoked, nil), nil, reason.Revoked, e.agent.DID},
		{"allowed again", e.present(e.agent, cred, nil), nil, "", e.agent.DID},
	}
	for i, s := range steps {
		r := req(s.scopes...)
		r.RequestID = "req-" + s.name
		res, err := e.v.Verify(context.Background(), s.tok, r)
		got, _ := reason.CodeOf(err)
		if got != s.want || (err == nil) != (res != nil) {
			t.Fatalf("%s: got %v (code %q), want %q", s.name, err, got, s.want)
		}
		events := decodeEvents(t, buf.Bytes())
		if len(events) != i+1 {
			t.Fatalf("%s: %d events after %d decisions", s.name, len(events), i+1)
		}
		ev := events[i]
		wantDecision := audit.DecisionAllow
		if s.want != "" {
			wantDecision = audit.DecisionDeny
		}
		if ev.Seq != uint64(i+1) || ev.Action != audit.ActionVerify || ev.Decision != wantDecision ||
			ev.Reason != string(s.want) || ev.RequestID != r.RequestID || ev.Subject != s.subject ||
			ev.Resource != eventsURL || ev.SourceIP != r.SourceIP || !ev.Time.Equal(e.now()) {
			t.Fatalf("%s: event %+v", s.name, ev)
		}
		if s.want == reason.Revoked && ev.Credential == "" {
			t.Fatalf("%s: denial after authentication does not name the credential: %+v", s.name, ev)
		}
	}
	// The lines form a valid hash chain.
	if _, err := audit.VerifyLines(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
}

func decodeEvents(t testing.TB, b []byte) []audit.Event {
	t.Helper()
	var out []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, audit.MaxEventSize+1024)
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type failingWriter struct{ n int }

func (w *failingWriter) Write([]byte) (int, error) {
	w.n++
	return 0, errors.New("disk full")
}

// TestAuditFailureFailsVerify checks that a decision that cannot be
// recorded is not made: Verify fails with an error that carries no reason
// code, whether the presentation would have been allowed or denied.
func TestAuditFailureFailsVerify(t *testing.T) {
	w := new(failingWriter)
	e := newEnv(t, WithAudit(audit.JSONLines(w)))
	cred := e.credential(e.agent.DID, nil)
	for _, c := range []struct {
		name string
		tok  string
		req  Request
	}{
		{"would allow", e.present(e.agent, cred, nil), req("calendar:read")},
		{"would deny", e.present(e.agent, cred, nil), req("calendar:delete")},
		{"unparseable", "x.y.z", req()},
	} {
		res, err := e.v.Verify(context.Background(), c.tok, c.req)
		if err == nil || res != nil {
			t.Fatalf("%s: Verify = %v, %v; want an error", c.name, res, err)
		}
		if code, ok := reason.CodeOf(err); ok {
			t.Fatalf("%s: audit failure carries reason code %q: %v", c.name, code, err)
		}
	}
	if w.n != 3 {
		t.Fatalf("%d writes attempted, want 3", w.n)
	}
}
