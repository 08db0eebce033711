package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"

	"github.com/agentid/agentid/internal/server"
)

// agentid runs the CLI in-process and returns its exit status and output.
func agentid(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	t.Logf("agentid %s\n[exit %d]\n[stdout]\n%s[stderr]\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

// TestEnvDefaults checks that $AGENTID_SERVER and $AGENTID_KEY stand in
// for --server and --key, and that flags win over them.
func TestEnvDefaults(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	dir := t.TempDir()
	url, _ := startServer(t, filepath.Join(dir, "data"))
	admin := filepath.Join(dir, "data", server.AdminKeyFile)

	t.Setenv("AGENTID_SERVER", url)
	t.Setenv("AGENTID_KEY", admin)
	if code, out, _ := agentid(t, "", "principal", "list", "--json"); code != 0 || !json.Valid([]byte(out)) {
		t.Fatalf("with the environment: exit %d, stdout %q", code, out)
	}
	code, _, errOut := agentid(t, "", "principal", "list", "--key", filepath.Join(dir, "nope.jwk"))
	if code != 1 || !strings.Contains(errOut, "nope.jwk") {
		t.Fatalf("--key over $AGENTID_KEY: exit %d, stderr %q", code, errOut)
	}
	// verify asks $AGENTID_SERVER's verifier service when neither
	// --issuer nor --server is given: a junk presentation is its refusal
	// (exit 1, a JSON result), not a usage error.
	code, out, errOut := agentid(t, "junk", "verify", "--aud", "https://calendar.example.com")
	var res api.VerifyResponse
	if err := json.Unmarshal([]byte(out), &res); code != 1 || err != nil || res.Valid || res.Error == nil || res.Error.Code != "malformed" {
		t.Fatalf("verify with $AGENTID_SERVER: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("AGENTID_SERVER", deadURL(t))
	code, _, errOut = agentid(t, "", "principal", "list")
	if code != 1 || !strings.Contains(errOut, "agentid serve") {
		t.Fatalf("dead $AGENTID_SERVER: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := agentid(t, "", "principal", "list", "--server", url); code != 0 {
		t.Fatalf("--server over $AGENTID_SERVER: exit %d", code)
	}
	t.Setenv("AGENTID_SERVER", "")
	if code, _, errOut := agentid(t, "junk", "verify", "--aud", "https://calendar.example.com"); code != 2 || !strings.Contains(errOut, "--issuer") {
		t.Fatalf("verify without a server or issuer: exit %d, stderr %q; want the usage error", code, errOut)
	}
}

// TestAuditVerifyServerTampered edits one event in the server's database
// and expects `audit verify` to fail (exit 1) naming its seq, as
// `audit verify --file` does for an export.
func TestAuditVerifyServerTampered(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	dir := t.TempDir()
	url, app := startServer(t, filepath.Join(dir, "data"))
	admin := filepath.Join(dir, "data", server.AdminKeyFile)

	if code, _, _ := agentid(t, "", "audit", "verify", "--server", url, "--key", admin); code != 0 {
		t.Fatalf("untouched log: exit %d", code)
	}
	// Event 1 is the first admin's registration, detail "role admin".
	key := binary.BigEndian.AppendUint64(nil, 1)
	err := app.DB.Update(context.Background(), func(tx store.Tx) error {
		b := tx.Bucket("audit")
		v := bytes.Replace(b.Get(key), []byte("role admin"), []byte("role adman"), 1)
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := agentid(t, "", "audit", "verify", "--server", url, "--key", admin)
	if code != 1 {
		t.Fatalf("tampered log: exit %d, want 1", code)
	}
	// The server answers a broken chain with the report (the issuer's
	// AuditVerify), which names the edited event: lines for people, JSON
	// with --json.
	if !strings.Contains(out, "chain:     BROKEN") || !strings.Contains(out, "audit: event 1 edited") {
		t.Fatalf("the report does not name event 1: stdout %q, stderr %q", out, errOut)
	}
	code, out, _ = agentid(t, "", "audit", "verify", "--server", url, "--key", admin, "--json")
	var rep audit.VerifyReport
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || len(rep.Errors) == 0 || rep.Errors[0].Seq != 1 || rep.Errors[0].Kind != audit.KindEdited {
		t.Fatalf("--json: exit %d, %+v (%v) from %q", code, rep, err, out)
	}
}

// TestAuditVerifySegments: `audit verify --segments` checks a sealed
// archive (with --file, the export of the log after it) against the
// issuer's signed segment heads, and exits 1 on an edited segment.
func TestAuditVerifySegments(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	url, app := startServer(t, data)
	admin := filepath.Join(data, server.AdminKeyFile)
	ctx := context.Background()
	for range 2 {
		if _, _, err := app.RollAudit(ctx, true); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := app.Audit.Append(ctx, &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow}); err != nil {
				t.Fatal(err)
			}
		}
	}
	export := filepath.Join(dir, "export.jsonl")
	code, out, _ := agentid(t, "", "audit", "export", "--server", url, "--key", admin)
	if code != 0 {
		t.Fatalf("export: exit %d", code)
	}
	if err := os.WriteFile(export, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	segs := filepath.Join(data, server.SegmentsDir)
	if code, _, _ := agentid(t, "", "audit", "verify", "--segments", segs, "--file", export); code != 0 {
		t.Fatalf("archive + export: exit %d, want 0", code)
	}
	names, _ := filepath.Glob(filepath.Join(segs, "segment-*.jsonl"))
	if len(names) != 2 {
		t.Fatalf("segments %q, want 2", names)
	}
	b, _ := os.ReadFile(names[1])
	edited := bytes.Replace(b, []byte(`"decision":"allow"`), []byte(`"decision":"deny"`), 1)
	if bytes.Equal(b, edited) {
		t.Fatal("nothing to edit")
	}
	os.WriteFile(names[1], edited, 0o600)
	code, out, _ = agentid(t, "", "audit", "verify", "--segments", segs)
	if code != 1 || !strings.Contains(out, " edited: ") {
		t.Fatalf("edited segment: exit %d, stdout %q; want 1 and an edited event", code, out)
	}
	code, out, _ = agentid(t, "", "audit", "verify", "--segments", segs, "--json")
	if code != 1 || !strings.Contains(out, `"kind": "edited"`) {
		t.Fatalf("edited segment, --json: exit %d, stdout %q; want 1 and an edited event", code, out)
	}
}
