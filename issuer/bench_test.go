package issuer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync/atomic"
	"testing"
)

// BenchmarkIssue measures durable issuance (bbolt with its default fsync on
// every commit) from many concurrent callers, against the cost of one bare
// Ed25519 signature.
//
// issue-parallel runs b.RunParallel with SetParallelism(issueParallelism),
// i.e. issueParallelism × GOMAXPROCS goroutines: an HTTP server has many
// requests in flight, and bbolt's Batch only amortises its fsync over the
// callers that wait together. issue-parallel-gomaxprocs keeps the default
// of one goroutine per P for comparison.
//
// Agents and their proofs of control (one issuer nonce each) are made
// before the timer starts. The issuer keeps at most 100,000 outstanding
// nonces, so b.N is capped below that: use -benchtime with an explicit
// count (for example -benchtime 3000x).
func BenchmarkIssue(b *testing.B) {
	b.Run("baseline-ed25519.Sign", func(b *testing.B) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		msg := make([]byte, 1024)
		_, _ = rand.Read(msg)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			_ = ed25519.Sign(key, msg)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
	b.Run("issue-parallel", func(b *testing.B) { benchIssue(b, issueParallelism) })
	b.Run("issue-parallel-gomaxprocs", func(b *testing.B) { benchIssue(b, 1) })
}

// issueParallelism is the goroutines per P of issue-parallel.
const issueParallelism = 32

// maxBenchIssues keeps the prepared nonces under the issuer's bound of
// 100,000 outstanding nonces.
const maxBenchIssues = 90_000

func benchIssue(b *testing.B, parallelism int) {
	if b.N > maxBenchIssues {
		b.Fatalf("b.N = %d: at most %d prepared proofs fit the nonce store; use -benchtime Nx", b.N, maxBenchIssues)
	}
	ctx := context.Background()
	e := newEnv(b)
	reqs := make([]IssueRequest, b.N)
	for i := range reqs {
		reqs[i] = e.request(b, e.newAgent(b))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if _, err := e.is.Issue(ctx, e.orchP, reqs[i]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creds/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.StopTimer()
	if n := e.count(b, bucketCredentials); n != b.N {
		b.Fatalf("%d credentials recorded, want %d", n, b.N)
	}
}
