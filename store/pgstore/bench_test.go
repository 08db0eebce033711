package pgstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// BenchmarkAuditRowPacking measures whether packing several audit events
// into one row would make the audit log cheaper for PostgreSQL: lots of
// 500 events (as the audit writer commits under load, about 585 bytes an
// event), one row per event (what the log does, the baseline) against 32
// events a row under PostgreSQL's default compression (pglz) and under
// lz4. It reports PostgreSQL's CPU per event (the cluster's processes,
// from /proc) and the wall time per event of the serial Updates.
// docs/performance.md has the figures and why the layout was kept.
func BenchmarkAuditRowPacking(b *testing.B) {
	for _, c := range []struct {
		name string
		pack int
		sql  string
	}{
		{"row-per-event", 1, ""},
		{"32-per-row-pglz", 32, ""},
		{"32-per-row-lz4", 32, "ALTER TABLE agentid_kv ALTER value SET COMPRESSION lz4"},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, _ := benchStore(b)
			ctx := context.Background()
			if c.sql != "" {
				if _, err := st.Pool().Exec(ctx, c.sql); err != nil {
					b.Skipf("%s: %v", c.sql, err)
				}
			}
			const lot = 500
			pm := postmaster(b)
			seq := uint64(0)
			evs := make([][]byte, lot)
			cpu0 := clusterCPU(pm)
			b.ResetTimer()
			for range b.N {
				for j := range evs {
					seq++
					evs[j] = fakeAuditEvent(seq)
				}
				if err := st.Update(ctx, func(tx store.Tx) error {
					bk := tx.Bucket("audit")
					for j := 0; j < lot; j += c.pack {
						end := min(j+c.pack, lot)
						var k [8]byte
						binary.BigEndian.PutUint64(k[:], seq-lot+uint64(end))
						if err := bk.Put(k[:], bytes.Join(evs[j:end], []byte("\n"))); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			events := float64(b.N * lot)
			b.ReportMetric(float64(clusterCPU(pm)-cpu0)*1e9/ticksPerSecond/events, "pg-cpu-ns/event")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
		})
	}
}

const ticksPerSecond = 100 // USER_HZ, the unit of /proc/PID/stat's times

// postmaster is the process id of the shared test cluster's postmaster.
func postmaster(b *testing.B) int {
	raw, err := os.ReadFile(filepath.Join(pgtest.Shared(b).DataDir(), "postmaster.pid"))
	if err != nil {
		b.Skipf("postmaster.pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil {
		b.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

// clusterCPU is the user and system CPU, in clock ticks, of the
// postmaster pm and its running children (the backends, the WAL writer,
// the checkpointer).
func clusterCPU(pm int) int64 {
	var total int64
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// Fields after "(comm)": state ppid ... utime(12th) stime(13th).
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(raw[i+1:]))
		pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Dir(path), "/proc/"), "/"))
		ppid, _ := strconv.Atoi(f[1])
		if len(f) < 13 || (pid != pm && ppid != pm) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		total += u + s
	}
	return total
}

// fakeAuditEvent is shaped like a sealed verification event: DIDs, a
// resource, a jti, and three 32-byte hex digests (prev, hash, mac) that do
// not compress.
func fakeAuditEvent(seq uint64) []byte {
	var r [96]byte
	_, _ = rand.Read(r[:])
	h := hex.EncodeToString(r[:])
	return fmt.Appendf(nil, `{"seq":%d,"time":"2026-12-02T19:00:00.%06dZ","actor":"did:key:z6MktWKqLktfaR7TkSUtkxhnKNubyKJDk8WHwDyFpSqeb8dV","action":"credential.verify","subject":"did:key:z6MkodLqdAXm5Emoppt1s5tqtukHkkRLQQGN3sfNVq9sRWeB","resource":"http://localhost:18080","decision":"allow","jti":"%s","prev":"%s","hash":"%s","mac":"%s"}`,
		seq, seq%1000000, h[:32], h[32:96], h[96:160], h[160:])
}
