package boltstore_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/agentid/agentid/store/boltstore"
)

// BenchmarkValidate measures Validate on a file of AGENTID_BENCH_KEYS
// (100,000 by default) records of 500 bytes under 40-byte keys, about the
// size of an agent record, against two baselines in the same run: reading
// the whole file (io.Copy to io.Discard) and bbolt opening it as Open does
// (which, without a persisted freelist, also walks every page).
//
// AGENTID_BENCH_FILE names an existing database to measure instead (a
// copy of a real data directory's agentid.db; it is only read).
//
//	go test ./store/boltstore/ -run '^$' -bench Validate -benchtime 5x
//	AGENTID_BENCH_KEYS=2000000 go test … (about 1.3 GB)
func BenchmarkValidate(b *testing.B) {
	if path := os.Getenv("AGENTID_BENCH_FILE"); path != "" {
		benchValidate(b, path)
		return
	}
	keys := 100_000
	if v, err := strconv.Atoi(os.Getenv("AGENTID_BENCH_KEYS")); err == nil && v > 0 {
		keys = v
	}
	path := filepath.Join(b.TempDir(), "agentid.db")
	st, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 500)
	for lo := 0; lo < keys; lo += 20_000 {
		err := db.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("agents"))
			if err != nil {
				return err
			}
			for i := lo; i < min(lo+20_000, keys); i++ {
				// Keys in random-ish order, as a hash-keyed index fills.
				if err := bk.Put(fmt.Appendf(nil, "agent:%016x:%020d", uint64(i)*0x9E3779B97F4A7C15, i), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	b.Logf("%d records", keys)
	benchValidate(b, path)
}

func benchValidate(b *testing.B, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("file %.1f MB", float64(fi.Size())/1e6)

	b.Run("Validate", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			if err := boltstore.Validate(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=ReadWholeFile", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("baseline=BboltOpen", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
}
