package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
)

// forged is what a principal or an agent can put in a value the CLI
// prints for people: a newline and a tab that would make a row of its own
// in a table, a line of its own in a tree, and terminal escapes (clear the
// screen, red) and a right-to-left override.
const forged = "x\n999\t2026-01-01T00:00:00Z\tprincipal.add\tallow\t\tFORGED\x1b[2J\x1b[31m\u202e"

// TestTablesEscapeControlCharacters: an owner, a task and the reason of a
// reported audit event carrying control characters reach `agent list`,
// `agent tree` and `audit tail` escaped, each on its own line, with no
// escape byte for the terminal. Before, they were printed raw: `audit
// tail` showed a forged row "999 … principal.add allow" that an
// orchestrator had reported through POST /v1/audit/events.
func TestTablesEscapeControlCharacters(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	dir := t.TempDir()
	url, _ := startServer(t, filepath.Join(dir, "data"))
	admin := filepath.Join(dir, "data", server.AdminKeyFile)
	agentKey := filepath.Join(dir, "agent.jwk")
	if code, _, _ := agentid(t, "", "did", "keygen", "--out", agentKey); code != 0 {
		t.Fatal("keygen")
	}
	if code, _, _ := agentid(t, "", "agent", "issue", "--server", url, "--key", admin, "--subject-key", agentKey,
		"--scopes", "calendar:read", "--audience", "https://calendar.example.com", "--owner", forged,
		"--purpose", "p", "--task", forged); code != 0 {
		t.Fatal("agent issue")
	}
	k, err := client.LoadKey(admin)
	if err != nil {
		t.Fatal(err)
	}
	ev := map[string]any{"action": "verify", "decision": "deny", "reason": forged, "credential": forged}
	if err := client.New(url, k).Do(context.Background(), "POST", "/v1/audit/events", ev, nil); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"agent", "list"}, {"agent", "tree"}, {"audit", "tail"}} {
		code, out, _ := agentid(t, "", append(args, "--server", url, "--key", admin)...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		if strings.ContainsAny(out, "\x1b\u202e\t") {
			t.Errorf("%v: output carries a raw escape, tab or override: %q", args, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "999") || strings.HasPrefix(strings.TrimSpace(line), "FORGED") {
				t.Errorf("%v: a value made a line of its own: %q", args, line)
			}
		}
		if want := `x\n999\t2026-01-01T00:00:00Z\tprincipal.add\tallow\t\tFORGED\x1b[2J\x1b[31m\u202e`; !strings.Contains(out, want) {
			t.Errorf("%v: output does not show the value escaped as %s", args, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"team-payments":            "team-payments",
		"réunion ✓ 会议":             "réunion ✓ 会议",
		"a\nb":                     `a\nb`,
		"a\r\tb":                   `a\r\tb`,
		"\x1b[31mred":              `\x1b[31mred`,
		"\x7f\u0085":               `\x7f\u0085`,
		"abc\u202edef":             `abc\u202edef`,
		"nb\u00a0sp":               `nb\u00a0sp`,
		"bad\xffutf8":              `bad\xffutf8`,
		"\xc3":                     `\xc3`,
		"├── did:key:z6Mk  active": "├── did:key:z6Mk  active",
		// C0 and C1 controls, DEL.
		"\x00\x07\x08\x0b\x0c\x1f": `\x00\a\b\v\f\x1f`,
		"\u0080\u009b[2J\u009f":    `\u0080\u009b[2J\u009f`,
		// Bidirectional controls: embeddings and overrides, isolates,
		// marks, the Arabic letter mark.
		"a\u202a\u202b\u202c\u202d\u202eb": `a\u202a\u202b\u202c\u202d\u202eb`,
		"a\u2066\u2067\u2068\u2069b":       `a\u2066\u2067\u2068\u2069b`,
		"a\u200e\u200f\u061cb":             `a\u200e\u200f\u061cb`,
		"exe.\u202etxt":                    `exe.\u202etxt`,
		// Zero-width and other format characters (Cf).
		"a\u200b\u200c\u200d\u2060\ufeffb":   `a\u200b\u200c\u200d\u2060\ufeffb`,
		"soft\u00adhyphen\u180e\u2061\u206f": `soft\u00adhyphen\u180e\u2061\u206f`,
		"tag\U000e0001\U000e0041\U000e007f":  `tag\U000e0001\U000e0041\U000e007f`,
		"\ufff9anchor\ufffb":                 `\ufff9anchor\ufffb`,
		// Line and paragraph separators, other spaces, private use,
		// unassigned.
		"a\u2028b\u2029c\u3000d\u200ae": `a\u2028b\u2029c\u3000d\u200ae`,
		"\ue000\U000f0000\U0010ffff":    `\ue000\U000f0000\U0010ffff`,
		// Invalid UTF-8: a lone continuation byte, a truncated sequence,
		// an overlong encoding, an encoded surrogate, a code point above
		// U+10FFFF.
		"\x80x":               `\x80x`,
		"\xe2\x80":            `\xe2\x80`,
		"\xc0\xaf":            `\xc0\xaf`,
		"\xed\xa0\x80":        `\xed\xa0\x80`,
		"\xf4\x90\x80\x80":    `\xf4\x90\x80\x80`,
		"ok\xe2\x80\xaeafter": `ok\u202eafter`,
		// Graphic text stays as it is, U+FFFD included.
		"\ufffd é\u0301 ✓ 🙂": "\ufffd é\u0301 ✓ 🙂",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPrintableCategories: every format (Cf), control (Cc), separator
// other than U+0020 (Zs, Zl, Zp), private-use (Co) and unassigned rune is
// escaped to printable ASCII, alone and between letters; printable's
// output is only graphic runes and spaces, and escaping it again changes
// nothing.
func TestPrintableCategories(t *testing.T) {
	for _, tab := range []struct {
		name string
		rt   *unicode.RangeTable
	}{{"Cf", unicode.Cf}, {"Cc", unicode.Cc}, {"Zs", unicode.Zs}, {"Zl", unicode.Zl}, {"Zp", unicode.Zp}, {"Co", unicode.Co}} {
		n := 0
		for r := rune(0); r <= unicode.MaxRune; r++ {
			if !unicode.Is(tab.rt, r) || r == ' ' {
				continue
			}
			n++
			got := printable("a" + string(r) + "b")
			if got == "a"+string(r)+"b" || !isPrintableASCII(got) {
				t.Errorf("%s: printable(%U) = %q", tab.name, r, got)
			}
		}
		if n == 0 {
			t.Errorf("%s: no rune checked", tab.name)
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff || unicode.IsPrint(r) {
			continue
		}
		s := string(r)
		if got := printable(s); !isPrintableASCII(got) || printable(got) != got {
			t.Fatalf("printable(%U) = %q", r, got)
		}
	}
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// forgedAll is a value a server (or a principal or an agent through it)
// could answer with in any string field: a newline that would start a
// line of its own ("FORGED …"), a tab, terminal escapes, C1 controls
// (U+0085 next line, U+009B CSI), the bidirectional controls (embeddings,
// overrides, isolates, marks), zero-width and other format characters,
// a line separator and DEL.
const forgedAll = "v\nFORGED\t\x1b[2J\x1b]0;title\x07\u0085\u009b31m" +
	"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c" +
	"\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\U000e0001\u2028\u2029\x7f."

// forgedServer answers every request the client commands send with
// records whose every string is forgedAll, as a compromised or buggy
// server, or values other principals chose, could. GET /v1/agents/ERR
// answers a problem whose detail is forgedAll.
func forgedServer(t *testing.T) string {
	t.Helper()
	F, Fs := forgedAll, []string{forgedAll}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	agent := map[string]any{"did": F, "owner": F, "purpose": F, "scopes": Fs, "audiences": Fs, "onBehalfOf": F,
		"constraints": map[string]any{"sourceNetworks": Fs, "rateLimit": F, "timeWindow": map[string]any{"start": F, "end": F, "tz": F}},
		"createdBy":   F, "createdAt": at, "currentCredential": F, "credentials": Fs, "status": F, "ancestor": F,
		"parent": F + "p", "depth": 1, "maxDepth": 2, "task": F, "approval": map[string]any{"id": F, "approver": F, "reason": F}}
	approval := map[string]any{"id": F, "requester": F, "agent": F, "scopes": Fs, "audiences": Fs, "owner": F, "purpose": F,
		"task": F, "needApproval": Fs, "status": "denied", "decidedBy": F, "decidedAt": at, "reason": F,
		"issued": map[string]any{"id": F, "credential": "a.b.c"}}
	event := map[string]any{"seq": 7, "time": at, "requestId": F, "actor": F, "action": F, "subject": F, "credential": F,
		"resource": F, "scopes": Fs, "decision": F, "reason": F, "detail": F, "sourceIp": F}
	routes := map[string]any{
		"GET /v1/agents":            map[string]any{"agents": []any{agent}},
		"GET /v1/agents/did:key:zA": agent,
		"POST /v1/agents/did:key:zA/retire": func(r *http.Request) any {
			var b struct{ Tree bool }
			_ = json.NewDecoder(r.Body).Decode(&b)
			if b.Tree {
				return map[string]any{"agents": []any{agent}}
			}
			return agent
		},
		"POST /v1/jobs/T/retire": map[string]any{"agents": []any{agent}},
		"GET /v1/nonce":          map[string]any{"nonce": "n"},
		"POST /v1/agents": func(r *http.Request) any {
			var b api.IssueRequest
			_ = json.NewDecoder(r.Body).Decode(&b)
			if b.Owner == "wait" {
				return map[string]any{"approval": F, "status": "pending"}
			}
			return map[string]any{"credential": "a.b.c", "id": F, "validUntil": at, "agent": agent}
		},
		"POST /v1/credentials/urn:x/revoke": map[string]any{"id": F, "agent": F, "revoked": true},
		"GET /v1/principals":                map[string]any{"principals": []any{map[string]any{"did": F, "role": F, "name": F, "ceiling": Fs}}},
		"POST /v1/principals":               map[string]any{"did": F, "role": F, "name": F},
		"GET /v1/keys":                      map[string]any{"keys": []any{map[string]any{"kid": F, "alg": F, "primary": true}}},
		"POST /v1/keys/rotate":              map[string]any{"kid": F, "alg": F, "primary": true},
		"GET /v1/audit":                     map[string]any{"events": []any{event}},
		"GET /v1/audit/summary": map[string]any{"since": at, "until": at, "events": 1,
			"agents":            []any{map[string]any{"agent": F, "denialsByReason": map[string]int{F: 1}, "newResources": Fs, "rateSpike": true}},
			"dormantAgents":     []any{map[string]any{"did": F}},
			"expiredNotRetired": []any{map[string]any{"did": F}}},
		"GET /v1/audit/verify": map[string]any{"events": 2, "firstSeq": 1, "lastSeq": 2, "head": F,
			"errors":     []any{map[string]any{"seq": 2, "kind": F, "detail": F}},
			"signedHead": map[string]any{"seq": 2, "hash": F, "time": at}},
		"GET /v1/approvals":                map[string]any{"approvals": []any{approval}},
		"GET /v1/approvals/urn:x":          approval,
		"POST /v1/approvals/urn:x/approve": approval,
		"POST /oauth/token":                map[string]any{"access_token": "a.b.c", "token_type": F, "expires_in": 60, "scope": F},
		"GET /v1/approvals/events":         nil, // below
		"GET /v1/agents/ERR":               nil, // below
		"POST /v1/approvals/urn:x/deny":    approval,
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		switch key {
		case "GET /v1/approvals/events":
			b, _ := json.Marshal(approval)
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: pending\x1b[2J\xff\u202e\ndata: %s\n\n", b)
			return
		case "GET /v1/agents/ERR":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(api.Problem{Status: 404, Code: "unknown_agent", Detail: F})
			return
		}
		v, ok := routes[key]
		if !ok {
			t.Errorf("forgedServer: unexpected %s", key)
			http.NotFound(w, r)
			return
		}
		if f, ok := v.(func(*http.Request) any); ok {
			v = f(r)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestLinesEscapeServerValues: every client command that prints for
// people — tables, trees, label: value records, one-line answers, the
// approval feed, the error line — writes a value it got from the server
// escaped: what it prints is valid UTF-8 of graphic characters and
// spaces only, one line per line it means, and the value shows, escaped.
// Before, the tables and trees were escaped but not the lines: 'approval
// watch' (the feed and a decision's reason), 'approval approve', 'agent
// retire', 'agent issue', 'credential revoke', 'principal add', 'audit
// verify', 'token' and the error line with a problem's detail passed
// escapes, bidirectional overrides and newlines to the terminal.
func TestLinesEscapeServerValues(t *testing.T) {
	url := forgedServer(t)
	key := testKey(t)
	agentKey := testKey(t)
	for _, tc := range []struct {
		args []string
		code int
		name string // when not the arguments
	}{
		{[]string{"agent", "list"}, 0, ""},
		{[]string{"agent", "tree"}, 0, ""},
		{[]string{"agent", "show", "did:key:zA"}, 0, ""},
		{[]string{"agent", "show", "ERR"}, 1, ""},
		{[]string{"agent", "retire", "did:key:zA"}, 0, ""},
		{[]string{"agent", "retire", "--tree", "did:key:zA"}, 0, ""},
		{[]string{"agent", "retire", "--task", "T"}, 0, ""},
		{[]string{"agent", "issue", "--subject-key", agentKey, "--scopes", "s:r", "--audience", "https://r.example"}, 0, "agent issue"},
		{[]string{"agent", "issue", "--subject-key", agentKey, "--scopes", "s:r", "--audience", "https://r.example", "--owner", "wait"}, 0,
			"agent issue, waiting for approval"},
		{[]string{"credential", "revoke", "urn:x"}, 0, ""},
		{[]string{"principal", "list"}, 0, ""},
		{[]string{"principal", "add", "did:key:zP"}, 0, ""},
		{[]string{"keys", "list"}, 0, ""},
		{[]string{"keys", "rotate"}, 0, ""},
		{[]string{"audit", "tail"}, 0, ""},
		{[]string{"audit", "summary"}, 0, ""},
		{[]string{"audit", "verify"}, 1, ""},
		{[]string{"approval", "list"}, 0, ""},
		{[]string{"approval", "show", "urn:x"}, 0, ""},
		{[]string{"approval", "approve", "urn:x", "--reason", "r"}, 0, ""},
		{[]string{"approval", "deny", "urn:x", "--reason", "r"}, 0, ""},
		{[]string{"approval", "watch", "urn:x"}, 1, ""},
		{[]string{"approval", "watch"}, 0, ""},
		{[]string{"token"}, 0, ""},
	} {
		name := tc.name
		if name == "" {
			name = strings.Join(tc.args, " ")
		}
		t.Run(name, func(t *testing.T) {
			args := append(tc.args, "--server", url, "--key", key)
			if tc.args[0] == "token" {
				args = []string{"token", "--server", url, "--key", agentKey}
			}
			code, out, errOut := agentid(t, "", args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d", code, tc.code)
			}
			all := out + errOut
			for _, l := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
				if !utf8.ValidString(l) {
					t.Errorf("a line is not UTF-8: %q", l)
				}
				for _, r := range l {
					if !unicode.IsPrint(r) {
						t.Errorf("a line carries %U: %q", r, l)
						break
					}
				}
				if strings.HasPrefix(strings.TrimLeft(l, " │├└─"), "FORGED") {
					t.Errorf("a value made a line of its own: %q", l)
				}
			}
			if !strings.Contains(all, `v\nFORGED\t\x1b[2J`) {
				t.Errorf("the value is not shown escaped")
			}
		})
	}
}
