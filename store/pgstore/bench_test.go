package pgstore_test

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/pgstore"
)

// The benchmarks measure the store against raw pgx doing the same
// statement without the store's transaction (the baseline), in the same
// run and on the same database.

func benchStore(b *testing.B) (*pgstore.Store, string) {
	b.Helper()
	dsn := pgtest.New(b)
	st, err := pgstore.Open(context.Background(), dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.Bucket("b").Put([]byte("k"), make([]byte, 16<<10))
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	return st, dsn
}

// BenchmarkViewGet: a View reading one 16 KiB value (a status list's bits).
func BenchmarkViewGet(b *testing.B) {
	st, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.View(ctx, func(tx store.Tx) error {
				if tx.Bucket("b").Get([]byte("k")) == nil {
					b.Error("missing")
				}
				return nil
			}); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkRawGet is the baseline of BenchmarkViewGet: the same SELECT
// through the pool, outside any transaction.
func BenchmarkRawGet(b *testing.B) {
	st, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var v []byte
			if err := st.Pool().QueryRow(ctx, `SELECT value FROM agentid_kv WHERE bucket = $1 AND kprefix = substring($2::bytea FROM 1 FOR 1024) AND khash = sha256($2::bytea)`,
				"b", []byte("k")).Scan(&v); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkUpdatePut: one Update writing one key, serialised by the
// writers' advisory lock, with its WAL flush.
func BenchmarkUpdatePut(b *testing.B) {
	st, _ := benchStore(b)
	ctx := context.Background()
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], n.Add(1))
			if err := st.Update(ctx, func(tx store.Tx) error { return tx.Bucket("w").Put(k[:], k[:]) }); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkBatchPut: the same through Batch (callers share commits).
func BenchmarkBatchPut(b *testing.B) {
	st, _ := benchStore(b)
	ctx := context.Background()
	var n atomic.Uint64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], n.Add(1))
			if err := st.Batch(ctx, func(tx store.Tx) error { return tx.Bucket("w").Put(k[:], k[:]) }); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkRawInsert is the baseline of BenchmarkUpdatePut: the same
// row inserted in its own autocommit statement, with no lock and no
// transaction around it (so not serialised with any read).
func BenchmarkRawInsert(b *testing.B) {
	st, _ := benchStore(b)
	ctx := context.Background()
	var n atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], n.Add(1))
			if _, err := st.Pool().Exec(ctx, `INSERT INTO agentid_kv (bucket, key, value) VALUES ($1, $2, $3)`, "w", k[:], k[:]); err != nil {
				b.Error(err)
			}
		}
	})
}
