package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
)

// oldDataDir builds a data directory the way releases before integrity
// at rest did: the same packages with no keys (so unkeyed SHA-256 audit
// events, records without MACs, no integrity root), holding the first
// admin and the admin key file.
func oldDataDir(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("AGENTID_MASTER_KEY", "")
	master, err := keystore.Master(filepath.Join(dir, MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	db, err := boltstore.Open(filepath.Join(dir, DBFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ks, _ := keystore.Open(db, master, nil)
	if err := ks.Create(ctx, issuer.KeyName, keystore.Ed25519); err != nil {
		t.Fatal(err)
	}
	st, _ := publish.Open(db, publish.Options{BaseURL: "http://localhost:1"})
	al, _ := auditlog.Open(db, nil)
	is, err := issuer.New(db, ks, st, al, issuer.Config{URL: "http://localhost:1"})
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	id, _ := did.KeyFromPublic(pub)
	if err := WriteKeyFile(filepath.Join(dir, AdminKeyFile), priv, id); err != nil {
		t.Fatal(err)
	}
	if _, err := is.AddPrincipal(ctx, nil, issuer.Principal{DID: id, Role: issuer.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestOldDataDirectoryUpgrades: a directory from before the change opens,
// its records are sealed once (and audited), its old events still verify
// and new ones are keyed.
func TestOldDataDirectoryUpgrades(t *testing.T) {
	ctx := context.Background()
	dir := oldDataDir(t)
	ts := start(t, dir)
	ps, err := ts.admin.Principals(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("principals after upgrade: %v, %v", ps, err)
	}
	rep, err := ts.admin.AuditVerify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after upgrade: %+v, %v", rep, err)
	}
	if rep.Keyed == 0 || rep.Keyed >= rep.Events {
		t.Errorf("report %+v: want old unkeyed events followed by keyed ones", rep)
	}
	evs, err := ts.admin.Audit(ctx, clientFilter(ActionIntegrityMigrate))
	if err != nil || len(evs) != 1 || evs[0].MAC == "" {
		t.Errorf("migration event = %+v, %v", evs, err)
	}
	// A second start migrates nothing more.
	ts.close()
	ts = start(t, dir)
	if evs, _ := ts.admin.Audit(ctx, clientFilter(ActionIntegrityMigrate)); len(evs) != 1 {
		t.Errorf("%d migration events after a restart, want 1", len(evs))
	}
}

// TestStartRefusesRewrittenLog: three events dropped and the chain
// recomputed with SHA-256 in the file: the server refuses to start; with
// AllowIntegrityFailure it starts not ready, and audit verify names the
// break.
func TestStartRefusesRewrittenLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ts := start(t, dir)
	for range 6 {
		if _, err := ts.admin.Principals(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ts.close()
	rewriteLog(t, dir)

	t.Setenv("AGENTID_MASTER_KEY", "")
	_, err := Open(ctx, Config{DataDir: dir, IssuerURL: ts.url, AllowHTTPLocalhost: true})
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Open = %v, want ErrIntegrity", err)
	}
	app, err := Open(ctx, Config{DataDir: dir, IssuerURL: ts.url, AllowHTTPLocalhost: true, AllowIntegrityFailure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if app.IntegrityErr == nil {
		t.Fatal("IntegrityErr not set")
	}
	s, _ := NewServer(app, ServerOptions{})
	rec := serve(s, http.MethodGet, "/readyz")
	if rec != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", rec)
	}
	rep, err := app.Audit.Verify(ctx)
	var ce *audit.ChainError
	if !errors.As(err, &ce) || rep == nil || rep.OK() {
		t.Fatalf("Verify = %v", err)
	}
}

// rewriteLog drops events 2..4 and re-chains the rest with plain SHA-256.
func rewriteLog(t *testing.T, dir string) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(dir, DBFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(context.Background(), func(tx store.Tx) error {
		b := tx.Bucket("audit")
		var evs []audit.Event
		var keys [][]byte
		_ = b.Range(nil, func(k, v []byte) error {
			if len(k) != 8 {
				return nil
			}
			keys = append(keys, append([]byte(nil), k...))
			var ev audit.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return err
			}
			if ev.Seq < 2 || ev.Seq > 4 {
				evs = append(evs, ev)
			}
			return nil
		})
		for _, k := range keys {
			_ = b.Delete(k)
		}
		prev := audit.GenesisPrev
		for i := range evs {
			ev := &evs[i]
			ev.Seq, ev.Prev = uint64(i+1), prev
			rec, err := audit.Seal(ev)
			if err != nil {
				return err
			}
			_ = b.Put(binary.BigEndian.AppendUint64(nil, ev.Seq), rec)
			prev = ev.Hash
		}
		h := binary.BigEndian.AppendUint64(nil, uint64(len(evs)))
		raw, err := hex.DecodeString(prev)
		if err != nil {
			return err
		}
		return b.Put([]byte("\xffhead"), append(h, raw...))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func serve(s *Server, method, path string) int {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code
}

func clientFilter(action string) client.AuditFilter { return client.AuditFilter{Action: action} }

// TestAuditHeadEndpoint: GET /v1/audit/head signs the current head; it
// verifies with the issuer's keys, and a log checked against it passes.
func TestAuditHeadEndpoint(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	sh, err := ts.admin.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := issuer.VerifyAuditHead(ctx, sh.Token, ts.app.Issuer.DID(), ts.app.Issuer.KeyResolver())
	if err != nil {
		t.Fatal(err)
	}
	if h.Seq == 0 || h.Seq != sh.Head.Seq || h.Hash != sh.Head.Hash {
		t.Errorf("head %+v, answer %+v", h, sh.Head)
	}
	if rep, err := ts.app.Audit.VerifyWith(ctx, audit.ChainOptions{Head: h}); err != nil {
		t.Errorf("verify against head: %+v, %v", rep, err)
	}
	// An orchestrator may not have it.
	orch := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, apiPrincipal(orch.DID)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(ts.url, orch).AuditHead(ctx); problemCode(err) != string(issuer.CodeForbidden) {
		t.Errorf("orchestrator AuditHead = %v, want forbidden", err)
	}
}

func apiPrincipal(id string) api.Principal {
	return api.Principal{DID: id, Role: "orchestrator", Ceiling: []string{"calendar:*"}}
}
