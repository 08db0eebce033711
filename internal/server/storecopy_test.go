package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/pgtest"
)

// A bbolt deployment moved to PostgreSQL keeps its data and its audit
// chain, and starts there as the first replica.
func TestCopyStore(t *testing.T) {
	dsn := pgtest.New(t)
	dir := t.TempDir()
	ts := start(t, dir)
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	if res := ts.verify(t, agent, out.Credential); !res.Valid {
		t.Fatalf("verify: %+v", res.Error)
	}
	url := ts.url
	ts.close()

	ctx := context.Background()
	rep, err := CopyStore(ctx, dir, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys == 0 || rep.AuditEvents == 0 {
		t.Fatalf("copy report %+v", rep)
	}
	if rep.IssuerURL != url {
		t.Errorf("copy report: issuer URL %q; want %q, the one to start the replicas with", rep.IssuerURL, url)
	}
	if _, err := os.Stat(filepath.Join(dir, DBFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the bbolt file is still at %s after the copy", DBFile)
	}
	if _, err := os.Stat(rep.MovedTo); err != nil {
		t.Errorf("moved file: %v", err)
	}

	app, err := Open(ctx, Config{DataDir: dir, IssuerURL: url, AllowHTTPLocalhost: true, StoreURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			app.Close()
		}
	}()
	vr, err := app.Audit.Verify(ctx)
	if err != nil || len(vr.Errors) > 0 {
		t.Fatalf("audit chain on PostgreSQL: %v %+v", err, vr)
	}
	if vr.Events < rep.AuditEvents {
		t.Errorf("the chain holds %d events on PostgreSQL; %d were copied", vr.Events, rep.AuditEvents)
	}
	key, err := client.LoadKey(filepath.Join(dir, AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := app.Issuer.Principal(ctx, key.DID)
	if err != nil {
		t.Fatal(err)
	}
	if ag, err := app.Issuer.Agent(ctx, admin, agent.DID); err != nil || ag.DID != agent.DID {
		t.Fatalf("the agent registered on bbolt, on PostgreSQL: %v", err)
	}

	// A second copy into the same database is refused.
	if err := os.Rename(rep.MovedTo, filepath.Join(dir, DBFile)); err != nil {
		t.Fatal(err)
	}
	closed = true
	app.Close()
	if _, err := CopyStore(ctx, dir, dsn); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("a copy into a database that holds data = %v; want ErrNotEmpty", err)
	}
}

// The issuer URL of a PostgreSQL deployment is changed in the database;
// a replica started with the old URL is then refused.
func TestChangeIssuerURLStore(t *testing.T) {
	dsn := pgtest.New(t)
	dir := t.TempDir()
	t.Setenv("AGENTID_MASTER_KEY", "")
	ctx := context.Background()
	app, err := Open(ctx, Config{DataDir: dir, IssuerURL: "http://localhost:18111", StoreURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	app.Close()
	old, err := ChangeIssuerURLStore(ctx, dsn, "http://localhost:18112/")
	if err != nil || old != "http://localhost:18111" {
		t.Fatalf("ChangeIssuerURLStore = %q, %v", old, err)
	}
	if _, err := Open(ctx, Config{DataDir: dir, IssuerURL: "http://localhost:18111", StoreURL: dsn}); !errors.Is(err, ErrIssuerURL) {
		t.Fatalf("a replica with the old URL: %v; want ErrIssuerURL", err)
	}
	app, err = Open(ctx, Config{DataDir: dir, IssuerURL: "http://localhost:18112", StoreURL: dsn})
	if err != nil {
		t.Fatalf("a replica with the new URL: %v", err)
	}
	app.Close()
}
