package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

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
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
