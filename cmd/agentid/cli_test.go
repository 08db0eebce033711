package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

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
	t.Setenv("AGENTID_SERVER", deadURL(t))
	code, _, errOut = agentid(t, "", "principal", "list")
	if code != 1 || !strings.Contains(errOut, "agentid serve") {
		t.Fatalf("dead $AGENTID_SERVER: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := agentid(t, "", "principal", "list", "--server", url); code != 0 {
		t.Fatalf("--server over $AGENTID_SERVER: exit %d", code)
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
	// AuditVerify), which names the edited event.
	if !strings.Contains(out, `"seq": 1`) && !strings.Contains(errOut, "event 1 ") {
		t.Fatalf("the report does not name event 1: stdout %q, stderr %q", out, errOut)
	}
}
