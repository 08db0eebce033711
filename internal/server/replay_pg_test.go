package server

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/store/pgstore"
	"github.com/agentid/agentid/verifier"
)

func replayStoreFor(t testing.TB) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), pgtest.New(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Two replicas' replay caches on one table: of many concurrent Records of
// the same jti, spread over both, exactly one is accepted; an expired row
// is taken over; other scopes are apart.
func TestSharedReplay(t *testing.T) {
	st := replayStoreFor(t)
	a, b := newSharedReplay(st, "verify"), newSharedReplay(st, "verify")
	now := time.Now()
	exp := now.Add(time.Minute)
	oneAccepted(t, a, b, exp, now)
	// Expired: taken over once.
	if err := a.Record("h", "short", now.Add(time.Second), now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Second)
	if err := b.Record("h", "short", later.Add(time.Minute), later); err != nil {
		t.Errorf("a jti whose row expired: %v; want accepted", err)
	}
	if err := a.Record("h", "short", later.Add(time.Minute), later); !errors.Is(err, verifier.ErrReplayed) {
		t.Errorf("the same again: %v; want ErrReplayed", err)
	}
	// Another scope (the issuer's presentations, nonces) is apart.
	if err := newSharedReplay(st, "issuer").Record("did:key:holder", "jti-0", exp, now); err != nil {
		t.Errorf("another scope: %v; want accepted", err)
	}
}

// BenchmarkReplayRecord measures one accepted Record under 32 concurrent
// callers per core: the in-memory cache of a single node (the baseline),
// the shared UNLOGGED table in batches (what replicas use), the same one
// statement per Record, a LOGGED table in batches, and Redis (SET NX PXAT,
// pipelined in the same batches over one connection, no persistence;
// replay_redis_test.go) when redis-server is installed.
func BenchmarkReplayRecord(b *testing.B) {
	st := replayStoreFor(b)
	if _, err := st.Pool().Exec(context.Background(), "CREATE TABLE agentid_replay_logged (LIKE agentid_replay INCLUDING ALL)"); err != nil {
		b.Fatal(err)
	}
	var n atomic.Uint64
	type variant struct {
		name string
		rc   verifier.ReplayCache
	}
	variants := []variant{
		{"memory", nil}, // made for each b.N: a bounded cache refuses when full
		{"unlogged-batched", newSharedReplay(st, "bench")},
		{"unlogged-single", newSharedReplayIn(st, "bench", "agentid_replay", true)},
		{"logged-batched", newSharedReplayIn(st, "bench", "agentid_replay_logged", false)},
	}
	if _, err := exec.LookPath("redis-server"); err == nil {
		variants = append(variants, variant{"redis-batched", newRedisReplay(b, startRedis(b), "bench")})
	} else {
		b.Log("redis-server is not installed: no Redis variant")
	}
	for _, bc := range variants {
		b.Run(bc.name, func(b *testing.B) {
			rc := bc.rc
			if rc == nil {
				rc = verifier.NewMemoryReplayCache(4*b.N + 4096)
			}
			now := time.Now()
			exp := now.Add(time.Hour)
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					holder := "did:key:h" + strconv.FormatUint(n.Add(1)%1024, 10)
					if err := rc.Record(holder, strconv.FormatUint(n.Add(1), 10), exp, now); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}

// oneAccepted records, in each of 5 rounds, one jti 32 times at once,
// alternately through a and b (two replicas' caches on one store): exactly
// one Record must be accepted, every other refused as replayed.
func oneAccepted(t *testing.T, a, b verifier.ReplayCache, exp, now time.Time) {
	t.Helper()
	for round := range 5 {
		jti := "jti-" + strconv.Itoa(round)
		var accepted, replayed atomic.Int32
		var wg sync.WaitGroup
		for i := range 32 {
			r := a
			if i%2 == 1 {
				r = b
			}
			wg.Go(func() {
				switch err := r.Record("did:key:holder", jti, exp, now); {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, verifier.ErrReplayed):
					replayed.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if accepted.Load() != 1 || replayed.Load() != 31 {
			t.Errorf("round %d: %d accepted, %d replayed; want 1 and 31", round, accepted.Load(), replayed.Load())
		}
	}
}
