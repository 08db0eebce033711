package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// A Migration is one versioned schema change, embedded in the binary.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the schema changes this binary knows, oldest first.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("pgstore: migration file %q is not NNNN_name.sql", name)
		}
		b, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: rest, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("pgstore: migration versions are not 1..n: %d at position %d", m.Version, i+1)
		}
	}
	return out, nil
}

// MigrationStatus is one migration as the database records it.
type MigrationStatus struct {
	Migration
	Applied   bool
	AppliedAt time.Time
}

// ErrSchemaTooNew is returned by Open for a database migrated by a newer
// release: this binary does not know its schema and refuses to use it.
var ErrSchemaTooNew = errors.New("pgstore: the database schema is newer than this release")

const createMigrations = `CREATE TABLE IF NOT EXISTS agentid_schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrate applies the migrations the database lacks, in one transaction
// under an advisory lock, so that replicas starting together apply each
// migration once: the second waits for the first and then finds nothing
// to do. PostgreSQL's DDL is transactional, so a failure leaves the schema
// as it was.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createMigrations); err != nil {
			return err
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		for v := range applied {
			if v > len(ms) {
				return fmt.Errorf("%w: it has migration %d, this release knows 1 to %d", ErrSchemaTooNew, v, len(ms))
			}
		}
		for _, m := range ms {
			if _, ok := applied[m.Version]; ok {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("pgstore: migration %d (%s): %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO agentid_schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

func appliedVersions(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (map[int]time.Time, error) {
	rows, err := q.Query(ctx, "SELECT version, applied_at FROM agentid_schema_migrations")
	if err != nil {
		return nil, err
	}
	out := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			rows.Close()
			return nil, err
		}
		out[v] = at
	}
	return out, rows.Err()
}

// Status reports, without changing anything, which of this binary's
// migrations the database at dsn has applied, and any version it has that
// this binary does not know (a newer release's).
func Status(ctx context.Context, dsn string) (ms []MigrationStatus, unknown []int, err error) {
	known, err := Migrations()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// As Open: pgx's parse error quotes the URL (its password masked,
		// but the rest of it, and a password it failed to recognise as
		// one, would be printed).
		return nil, nil, errURLParse
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, mapErr(fmt.Errorf("pgstore: connect: %w", err))
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('agentid_schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, nil, mapErr(err)
	}
	applied := map[int]time.Time{}
	if exists {
		if applied, err = appliedVersions(ctx, conn); err != nil {
			return nil, nil, mapErr(err)
		}
	}
	for _, m := range known {
		at, ok := applied[m.Version]
		ms = append(ms, MigrationStatus{Migration: m, Applied: ok, AppliedAt: at})
		delete(applied, m.Version)
	}
	for v := range applied {
		unknown = append(unknown, v)
	}
	sort.Ints(unknown)
	return ms, unknown, nil
}
