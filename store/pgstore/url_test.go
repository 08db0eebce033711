package pgstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentid/agentid/store/pgstore"
)

// TestBadURLNotQuoted: a database URL that does not parse is reported
// without being quoted, by Open and by Status (migrate status) alike: it
// may carry a password, and pgx masks only what it recognises as one.
// No database is needed.
func TestBadURLNotQuoted(t *testing.T) {
	for _, u := range []string{
		"postgres://agentid:s3cret-pw@db.internal:notaport/agentid",
		"postgres://agentid:s3cret-pw@db.internal/agentid?sslmode=s3cret-pw",
	} {
		_, err := pgstore.Open(context.Background(), u, nil)
		_, _, serr := pgstore.Status(context.Background(), u)
		for name, err := range map[string]error{"Open": err, "Status": serr} {
			if err == nil {
				t.Fatalf("%s(%q): no error", name, u)
			}
			if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "db.internal") || !strings.Contains(msg, "does not parse") {
				t.Errorf("%s(%q): %q; want 'does not parse' and no part of the URL", name, u, msg)
			}
		}
	}
}
