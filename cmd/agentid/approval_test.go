package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// fakeServer answers a GET of each path of routes (as the server decodes
// it) with its value as JSON, and every other request with 404.
func fakeServer(t *testing.T, routes map[string]any) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := routes[r.URL.Path]
		if r.Method != http.MethodGet || !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// testKey writes a new principal key to a file and returns its path.
func testKey(t *testing.T) string {
	t.Helper()
	k, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.jwk")
	if err := k.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestApprovalWatchOutcome: `approval watch ID` ends on each decision with
// a clean line: an expiry (which has neither decider nor reason) no longer
// prints "approval … is expired ()", a denial names who denied it and
// why, an approval prints the credential on stdout, and with --json a
// request that was not approved still exits 1, as without. A reason
// carrying terminal escapes is escaped.
func TestApprovalWatchOutcome(t *testing.T) {
	const id = "urn:uuid:00000000-0000-4000-8000-000000000001"
	const approver = "did:key:z6MkApprover"
	decided := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	expires := time.Date(2026, 1, 2, 3, 19, 5, 0, time.UTC)
	key := testKey(t)
	for _, tc := range []struct {
		name     string
		a        api.Approval
		json     bool
		code     int
		out, err string // exact stdout and stderr ("" for none)
	}{
		{name: "expired", a: api.Approval{Status: api.ApprovalExpired},
			code: 1, err: "agentid: error: approval " + id + " is expired: not decided before 2026-01-02T03:19:05Z\n"},
		{name: "denied", a: api.Approval{Status: api.ApprovalDenied, DecidedBy: approver, DecidedAt: &decided, Reason: "not this week"},
			code: 1, err: "agentid: error: approval " + id + " is denied by " + approver + ": not this week\n"},
		{name: "denied without a reason", a: api.Approval{Status: api.ApprovalDenied, DecidedBy: approver, DecidedAt: &decided},
			code: 1, err: "agentid: error: approval " + id + " is denied by " + approver + "\n"},
		{name: "denied, escapes in the reason", a: api.Approval{Status: api.ApprovalDenied, DecidedBy: approver, Reason: "no\n\x1b[2J\u202eok"},
			code: 1, err: "agentid: error: approval " + id + ` is denied by ` + approver + `: no\n\x1b[2J\u202eok` + "\n"},
		{name: "approved", a: api.Approval{Status: api.ApprovalApproved, DecidedBy: approver, DecidedAt: &decided, Reason: "ticket CHG-42",
			Issued: &api.Issued{ID: "urn:uuid:c", Credential: "aaa.bbb.ccc"}},
			code: 0, out: "aaa.bbb.ccc\n", err: "agentid: approved by " + approver + ": ticket CHG-42\n"},
		{name: "approved without a reason", a: api.Approval{Status: api.ApprovalApproved, DecidedBy: approver, DecidedAt: &decided,
			Issued: &api.Issued{ID: "urn:uuid:c", Credential: "aaa.bbb.ccc"}},
			code: 0, out: "aaa.bbb.ccc\n", err: "agentid: approved by " + approver + "\n"},
		{name: "approved, watched by another", a: api.Approval{Status: api.ApprovalApproved, DecidedBy: approver, DecidedAt: &decided, Reason: "ok"},
			code: 0, err: "agentid: approved by " + approver + ": ok\nagentid: the credential is the requester's to collect\n"},
		{name: "expired --json", a: api.Approval{Status: api.ApprovalExpired}, json: true, code: 1},
		{name: "denied --json", a: api.Approval{Status: api.ApprovalDenied, DecidedBy: approver, Reason: "no"}, json: true, code: 1},
		{name: "approved --json", a: api.Approval{Status: api.ApprovalApproved, DecidedBy: approver, Reason: "ok",
			Issued: &api.Issued{ID: "urn:uuid:c", Credential: "aaa.bbb.ccc"}}, json: true, code: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			a.ID, a.ExpiresAt = id, expires
			args := []string{"approval", "watch", id, "--server", fakeServer(t, map[string]any{"/v1/approvals/" + id: &a}), "--key", key}
			if tc.json {
				args = append(args, "--json")
			}
			code, out, errOut := agentid(t, "", args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if tc.json {
				var got api.Approval
				if err := json.Unmarshal([]byte(out), &got); err != nil || got.Status != a.Status || errOut != "" {
					t.Errorf("--json: %v, stdout %q, stderr %q", err, out, errOut)
				}
				return
			}
			if out != tc.out || errOut != tc.err {
				t.Errorf("stdout %q, want %q\nstderr %q, want %q", out, tc.out, errOut, tc.err)
			}
			if strings.Contains(errOut, "()") {
				t.Errorf("empty parentheses: %q", errOut)
			}
		})
	}
}
