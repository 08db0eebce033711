package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/store"
)

// TestAuditRetention: the server seals its log into a signed segment, the
// log in the database verifies from there, the archive and the database
// verify as one chain with the issuer's signature on every segment head,
// a restart accepts it, and a base moved past the signed head is refused
// at start.
func TestAuditRetention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ts := start(t, dir)
	for range 3 {
		if _, err := ts.admin.Principals(ctx); err != nil {
			t.Fatal(err)
		}
	}
	seg, _, err := ts.app.RollAudit(ctx, true)
	if err != nil || seg == nil || seg.First != 1 {
		t.Fatalf("RollAudit: %+v, %v", seg, err)
	}
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	if res := ts.verify(t, agent, out.Credential, "calendar:read"); !res.Valid {
		t.Fatalf("verification refused: %+v", res.Error)
	}
	rep, err := ts.admin.AuditVerify(ctx)
	if err != nil || !rep.OK() || rep.FirstSeq != seg.Last+1 {
		t.Fatalf("server verify after sealing: %+v, %v", rep, err)
	}
	var tail bytes.Buffer
	if err := ts.app.Audit.Export(ctx, audit.Filter{}, &tail); err != nil {
		t.Fatal(err)
	}
	check := func(ctx context.Context, tok string) (*audit.Head, error) { return issuerVerifyHead(ctx, ts.app, tok) }
	all, err := auditlog.VerifyArchive(ctx, filepath.Join(dir, SegmentsDir), &tail, nil, check)
	if err != nil || all.FirstSeq != 1 || all.LastSeq != rep.LastSeq {
		t.Fatalf("archive + database: %+v, %v", all, err)
	}
	ts.close()

	t.Setenv("AGENTID_MASTER_KEY", "")
	app, err := Open(ctx, Config{DataDir: dir, IssuerURL: ts.url, AllowHTTPLocalhost: true})
	if err != nil {
		t.Fatalf("restart after sealing: %v", err)
	}
	// Move the base forward (as if to hide deleted events).
	err = app.DB.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket("audit.heads")
		var sh map[string]json.RawMessage
		if err := json.Unmarshal(b.Get([]byte("base")), &sh); err != nil {
			return err
		}
		var h audit.Head
		json.Unmarshal(sh["head"], &h)
		h.Seq += 2
		sh["head"], _ = json.Marshal(h)
		v, _ := json.Marshal(sh)
		return b.Put([]byte("base"), v)
	})
	app.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, Config{DataDir: dir, IssuerURL: ts.url, AllowHTTPLocalhost: true})
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Open with a forged base = %v, want ErrIntegrity", err)
	}
	if _, err := os.Stat(seg.File); err != nil {
		t.Fatal(err)
	}
}
