package publish

import (
	"context"
	"crypto/ed25519"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// BenchmarkCheckCached is the verifier's per-request cost once the lists
// are cached: no fetch, no allocation, the bit read afresh every time.
func BenchmarkCheckCached(b *testing.B) {
	e := newEnv(b, envOptions{noFeed: true})
	rev, sus := e.allocate(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		entries []vc.StatusEntry
	}{
		{"one-entry", []vc.StatusEntry{rev}},
		{"revocation+suspension", []vc.StatusEntry{rev, sus}},
	} {
		if err := e.checker.Check(ctx, testIssuer, bc.entries); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := e.checker.Check(ctx, testIssuer, bc.entries); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := e.checker.Check(ctx, testIssuer, bc.entries); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkResign re-reads a full 131,072-entry list from the store, encodes it
// and signs it with Ed25519: the work after one change. baseline is a bare
// ed25519.Sign over a signing input of the same size, in the same run.
func BenchmarkResign(b *testing.B) {
	for _, set := range []int{1, 1000, 10000} {
		e := newEnv(b, envOptions{noFeed: true})
		u := e.store.ListURL(Suspension, 0)
		var input int
		err := e.db.Update(context.Background(), func(tx store.Tx) error {
			r := rand.New(rand.NewPCG(1, uint64(set)))
			for i := 0; i < set; i++ {
				en, err := e.store.AllocateTx(tx, Suspension)
				if err != nil {
					return err
				}
				if r.IntN(2) == 0 || i == 0 {
					if err := e.store.SetTx(tx, en, true); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		e.pub.Close() // no background flushes during the benchmark
		b.Run("bits-set-~"+strconv.Itoa(max(set/2, 1)), func(b *testing.B) {
			b.ReportAllocs()
			var sl *signedList
			for b.Loop() {
				e.pub.signMu.Lock()
				sl, err = e.pub.sign(u)
				e.pub.signMu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
			}
			t, _ := jws.Parse(sl.jwt)
			input = len(t.SigningInput)
			b.ReportMetric(float64(len(sl.jwt)), "jwt-bytes")
		})
		b.Run("baseline-ed25519-sign/bits-set-~"+strconv.Itoa(max(set/2, 1)), func(b *testing.B) {
			msg := make([]byte, input)
			b.ReportAllocs()
			for b.Loop() {
				ed25519.Sign(e.signer.key, msg)
			}
			b.ReportMetric(float64(input), "input-bytes")
		})
	}
}

func BenchmarkAllocateTx(b *testing.B) {
	db, _ := openDB(b)
	s := openStore(b, db, statuslist.MinSize)
	b.ReportAllocs()
	err := db.Update(context.Background(), func(tx store.Tx) error {
		for b.Loop() {
			if _, err := s.AllocateTx(tx, Revocation); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
