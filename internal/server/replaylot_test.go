package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
)

func TestReplayLotRoundTrip(t *testing.T) {
	recs := []replayRec{
		{holder: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", jti: "a", exp: 30},
		{holder: "", jti: "nonce-id", exp: 50},
		{holder: "did:key:x", jti: "", exp: 40},
	}
	v := encodeLot(recs)
	if e, ok := lotMaxExp(v); !ok || e != 50 {
		t.Fatalf("lotMaxExp = %d, %v; want 50", e, ok)
	}
	var got []replayRec
	if err := readLot(v, func(h, j []byte, exp int64) {
		got = append(got, replayRec{holder: string(h), jti: string(j), exp: exp})
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if got[i] != recs[i] {
			t.Errorf("record %d = %+v, want %+v", i, got[i], recs[i])
		}
	}
	// Every cut of the value is refused.
	for n := 0; n < len(v); n++ {
		if err := readLot(v[:n], func(_, _ []byte, _ int64) {}); err == nil {
			t.Fatalf("a lot cut at %d of %d bytes was read", n, len(v))
		}
	}
	// A record expiring after the header's latest expiry is refused: the
	// collector drops a lot by its header.
	binary.BigEndian.PutUint64(v[1:], 49)
	if err := readLot(v, func(_, _ []byte, _ int64) {}); err == nil {
		t.Fatal("a lot whose header understates its expiry was read")
	}
}

func FuzzReadLot(f *testing.F) {
	f.Add(encodeLot([]replayRec{{holder: "did:key:a", jti: "j", exp: 1}}))
	f.Add([]byte{lotVersion, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		var recs []replayRec
		if err := readLot(v, func(h, j []byte, exp int64) {
			recs = append(recs, replayRec{holder: string(h), jti: string(j), exp: exp})
		}); err != nil {
			return
		}
		// What reads back re-encodes to a lot that reads back the same,
		// none expiring after the header's claim.
		maxExp, _ := lotMaxExp(v)
		var again []replayRec
		if err := readLot(encodeLot(recs), func(h, j []byte, exp int64) {
			again = append(again, replayRec{holder: string(h), jti: string(j), exp: exp})
		}); err != nil {
			t.Fatalf("a re-encoded lot is refused: %v", err)
		}
		if len(again) != len(recs) {
			t.Fatalf("re-encoded lot reads %d records, want %d", len(again), len(recs))
		}
		for i := range recs {
			if again[i] != recs[i] || recs[i].exp > maxExp {
				t.Fatalf("record %d: %+v then %+v (header's latest expiry %d)", i, recs[i], again[i], maxExp)
			}
		}
	})
}

// TestReplayJournalLotsAndOldRecords: records are written as lots, read
// back by the next open with records of the earlier one-per-jti format,
// and expired lots and records are dropped at open.
func TestReplayJournalLotsAndOldRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "replay.db")
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const bucket = "test.replay"

	// Records of an earlier release: one live, one expired.
	if err := db.Update(ctx, func(tx store.Tx) error {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(now.Add(time.Minute).UnixNano()))
		if err := tx.Bucket(bucket).Put([]byte("did:key:old\x00live"), v[:]); err != nil {
			return err
		}
		var w [8]byte // bbolt keeps v until the commit
		binary.BigEndian.PutUint64(w[:], uint64(now.Add(-time.Minute).UnixNano()))
		return tx.Bucket(bucket).Put([]byte("did:key:old\x00gone"), w[:])
	}); err != nil {
		t.Fatal(err)
	}
	j, err := openReplay(ctx, db, bucket, clock, log)
	if err != nil {
		t.Fatal(err)
	}
	if !j.Seen("did:key:old", "live", now) {
		t.Fatal("a live record of the earlier format was not loaded")
	}
	if j.Seen("did:key:old", "gone", now) {
		t.Fatal("an expired record was loaded")
	}
	for i, jti := range []string{"a", "b", "c"} {
		exp := now.Add(time.Duration(i+1) * time.Minute)
		if err := j.Record("did:key:new", jti, exp, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Record("", "nonce", now.Add(10*time.Second), now); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	lots, old := 0, 0
	if err := db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucket).Range(nil, func(k, _ []byte) error {
			if isLotKey(k) {
				lots++
			} else {
				old++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if lots == 0 || old != 1 {
		t.Fatalf("%d lots and %d records of the earlier format on disk; want some lots and the live old record", lots, old)
	}

	// Reopened 30 s later: the nonce's lot has expired in part, the rest
	// is refused as seen.
	now = now.Add(30 * time.Second)
	j, err = openReplay(ctx, db, bucket, clock, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{"a", "b", "c"} {
		if !j.Seen("did:key:new", jti, now) {
			t.Errorf("jti %s recorded before the restart is not seen after it", jti)
		}
		if err := j.Record("did:key:new", jti, now.Add(time.Minute), now); err == nil {
			t.Errorf("jti %s recorded again after the restart", jti)
		}
	}
	if j.Seen("", "nonce", now) {
		t.Error("an expired record of a live lot was loaded")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened after everything expired: nothing is left on disk.
	now = now.Add(time.Hour)
	j, err = openReplay(ctx, db, bucket, clock, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucket).Range(nil, func(_, _ []byte) error { n++; return nil })
	})
	if n != 0 {
		t.Fatalf("%d records left after everything expired", n)
	}
}

// BenchmarkReplayFlush: one flush of 500 replay records (100 ms at
// 5,000 verifications/s) into a bucket already holding 250,000 (some
// minutes of presentations), as one lot ("lot") and, for the baseline in
// the same run, as one record per jti, the format before lots
// ("per-jti"). jtis are random, as real ones are. NoSync: the CPU of
// building and committing the transaction, not the disk's wait.
func BenchmarkReplayFlush(b *testing.B) {
	const held, perFlush = 250_000, 500
	exp := time.Unix(1_800_000_000, 0).UnixNano()
	rng := rand.New(rand.NewPCG(1, 2))
	next := func() []replayRec {
		out := make([]replayRec, perFlush)
		for k := range out {
			var j [16]byte
			binary.LittleEndian.PutUint64(j[:], rng.Uint64())
			binary.LittleEndian.PutUint64(j[8:], rng.Uint64())
			out[k] = replayRec{holder: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
				jti: base64.RawURLEncoding.EncodeToString(j[:]), exp: exp}
		}
		return out
	}
	perJTI := func(b store.Bucket, recs []replayRec) error {
		for _, r := range recs {
			k := append(append([]byte(r.holder), 0), r.jti...)
			v := binary.BigEndian.AppendUint64(nil, uint64(r.exp))
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	}
	var lotN uint64
	lot := func(b store.Bucket, recs []replayRec) error {
		lotN++
		return b.Put(lotKey(lotN), encodeLot(recs))
	}
	for _, f := range []struct {
		name  string
		write func(store.Bucket, []replayRec) error
	}{{"per-jti", perJTI}, {"lot", lot}} {
		b.Run(f.name, func(b *testing.B) {
			db, err := boltstore.Open(filepath.Join(b.TempDir(), "r.db"), &boltstore.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			for i := 0; i < held/perFlush; i++ {
				if err := db.Update(ctx, func(tx store.Tx) error { return f.write(tx.Bucket("r"), next()) }); err != nil {
					b.Fatal(err)
				}
			}
			batches := make([][]replayRec, b.N)
			for i := range batches {
				batches[i] = next()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.Update(ctx, func(tx store.Tx) error { return f.write(tx.Bucket("r"), batches[i]) }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perFlush), "ns/record")
		})
	}
}
