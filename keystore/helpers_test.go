package keystore

import (
	"path/filepath"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/agentid/agentid/store/boltstore"
)

// openTestDB opens a boltstore file at path, without fsync (tests do not
// survive crashes), and closes it at cleanup.
func openTestDB(tb testing.TB, path string) *boltstore.Store {
	tb.Helper()
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testMaster returns a fresh random master AEAD.
func testMaster(tb testing.TB) tink.AEAD {
	tb.Helper()
	s, err := GenerateMasterKeyString()
	if err != nil {
		tb.Fatal(err)
	}
	a, err := ParseMasterKey(s)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// newTestStore opens a Store on a fresh database in a temporary directory.
func newTestStore(tb testing.TB, opts *Options) *Store {
	tb.Helper()
	db := openTestDB(tb, filepath.Join(tb.TempDir(), "agentid.db"))
	s, err := Open(db, testMaster(tb), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
