package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentid/agentid/internal/pgtest"
)

// A replica refused at start on PostgreSQL is told about the database it
// shares, not about an agentid.db file that a --store replica never has
// (docs/deploy.md, steps 2 and "To change the issuer URL").
func TestOpenPostgresRefusalsNameTheDatabase(t *testing.T) {
	dsn := pgtest.New(t)
	t.Setenv("AGENTID_MASTER_KEY", "")
	ctx := context.Background()
	const url = "http://localhost:18121"
	app, err := Open(ctx, Config{DataDir: t.TempDir(), IssuerURL: url, StoreURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	first := app.cfg.DataDir
	app.Close()
	master, err := os.ReadFile(filepath.Join(first, MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		masterKey bool   // give the replica the first replica's master.key
		issuerURL string // the URL the replica is started with
		is        error
		want      []string // in the message
		not       []string // not in the message
	}{
		{"master key missing", false, url, ErrMissingData,
			[]string{"server: data is missing: the master key ", MasterKeyFile + " is missing", "the database holds keys", "AGENTID_MASTER_KEY"},
			[]string{DBFile}},
		{"another issuer URL", true, "http://localhost:18122", ErrIssuerURL,
			[]string{"server: the database was initialised for issuer URL http://localhost:18121, not http://localhost:18122"},
			[]string{"data directory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.masterKey {
				if err := os.WriteFile(filepath.Join(dir, MasterKeyFile), master, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			app, err := Open(ctx, Config{DataDir: dir, IssuerURL: c.issuerURL, StoreURL: dsn})
			if err == nil {
				app.Close()
				t.Fatal("the replica started")
			}
			if !errors.Is(err, c.is) {
				t.Fatalf("err = %v; want %v", err, c.is)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q; want it to contain %q", err, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("err = %q names %q", err, n)
				}
			}
			var u *IssuerURLError
			if errors.As(err, &u) && !u.Database {
				t.Errorf("IssuerURLError.Database = false on PostgreSQL")
			}
		})
	}
}
