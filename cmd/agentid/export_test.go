package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/internal/server"
)

// TestAuditExportComplete: `audit export` streams every event, not the
// 100 of `audit tail`'s default limit.
func TestAuditExportComplete(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	dir := t.TempDir()
	url, app := startServer(t, filepath.Join(dir, "data"))
	admin := filepath.Join(dir, "data", server.AdminKeyFile)
	ctx := context.Background()
	for range 250 {
		if err := app.Audit.Append(ctx, &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow}); err != nil {
			t.Fatal(err)
		}
	}
	head, _, err := app.Audit.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := agentid(t, "", "audit", "export", "--server", url, "--key", admin)
	if code != 0 {
		t.Fatalf("audit export: exit %d", code)
	}
	// The export itself is one more event (the query is audited) or not;
	// every event up to the head seen before it must be there.
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if uint64(len(lines)) < head {
		t.Fatalf("audit export wrote %d events; the log holds %d", len(lines), head)
	}
	if _, err := audit.VerifyLines(strings.NewReader(out)); err != nil {
		t.Fatalf("exported chain: %v", err)
	}
	code, out, _ = agentid(t, "", "audit", "export", "--action", audit.ActionVerify, "--server", url, "--key", admin)
	if n := strings.Count(out, "\n"); code != 0 || n != 250 {
		t.Fatalf("filtered export: exit %d, %d events; want 250", code, n)
	}
	if code, out, _ = agentid(t, "", "audit", "tail", "--json", "--server", url, "--key", admin); code != 0 || strings.Count(out, `"seq"`) != 100 {
		t.Fatalf("tail keeps its default of 100: exit %d, %d events", code, strings.Count(out, `"seq"`))
	}
	// tail shows the latest matching events, oldest first (it showed the
	// oldest: seq 2 to 4 of 250).
	var tail []audit.Event
	code, out, _ = agentid(t, "", "audit", "tail", "--json", "--limit", "3", "--action", audit.ActionVerify, "--server", url, "--key", admin)
	if err := json.Unmarshal([]byte(out), &tail); code != 0 || err != nil {
		t.Fatalf("audit tail --json: exit %d, %v", code, err)
	}
	if len(tail) != 3 || tail[0].Seq != head-2 || tail[2].Seq != head {
		t.Fatalf("audit tail --limit 3: %d events, want seq %d to %d; got %+v", len(tail), head-2, head, tail)
	}
	if code, _, _ = agentid(t, "", "audit", "tail", "--limit", "0", "--server", url, "--key", admin); code != 2 {
		t.Fatalf("audit tail --limit 0: exit %d, want 2 (usage)", code)
	}
}
