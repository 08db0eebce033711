package issuer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/vc"
)

// BenchmarkIssueSubAgent measures durable sub-agent issuance through the
// library (the parent's presentation verified, the grant attenuated, the
// child's records, status entries and audit event committed with fsync),
// from many concurrent callers, with its baselines in the same run: one
// bare Ed25519 signature and verification (one goroutine), and root
// issuance as in BenchmarkIssue. Use -benchtime with an explicit count
// (for example -benchtime 2000x): the prepared proofs must fit the nonce
// store.
func BenchmarkIssueSubAgent(b *testing.B) {
	b.Run("baseline-ed25519.Sign", func(b *testing.B) {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		msg := make([]byte, 1024)
		for b.Loop() {
			_ = ed25519.Sign(key, msg)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
	})
	b.Run("baseline-ed25519.Verify", func(b *testing.B) {
		pub, key, _ := ed25519.GenerateKey(rand.Reader)
		msg := make([]byte, 1024)
		sig := ed25519.Sign(key, msg)
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("signature does not verify")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	})
	b.Run("root-issue-parallel", func(b *testing.B) { benchIssue(b, issueParallelism) })
	b.Run("subagent-issue-parallel", func(b *testing.B) {
		if b.N > maxBenchIssues/2 {
			b.Fatalf("b.N = %d: use -benchtime Nx with N ≤ %d", b.N, maxBenchIssues/2)
		}
		ctx := audit.WithSource(context.Background(), "10.0.0.1")
		e := newEnv(b)
		_, root := e.tree(b, 1, func(r *IssueRequest) { r.TTL, r.Lifetime = time.Hour, 24*time.Hour })
		type call struct {
			vp   string
			body []byte
			r    IssueRequest
		}
		calls := make([]call, b.N)
		for i := range calls {
			c := e.newAgent(b)
			r := e.childRequest(b, root.a, c)
			body, _ := json.Marshal(r.Agent)
			vp := root.a.Present(b, root.cred, testURL, "POST", agentsURL, e.clock.Now(), func(p *vc.Presentation) { p.Htd = BodyDigest(body) })
			calls[i] = call{vp, body, r}
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(issueParallelism)
		cpu0 := processCPU()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c := calls[next.Add(1)-1]
				if _, err := e.is.IssueAsAgent(ctx, c.vp, "POST", agentsURL, c.body, c.r); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creds/s")
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		b.StopTimer()
		if n := e.count(b, bucketAgents); n != b.N+1 {
			b.Fatalf("%d agents recorded, want %d", n, b.N+1)
		}
	})
}

// processCPU is the CPU time (user and system) the process has used: on a
// machine shared with other work, the CPU an issuance costs varies less
// than its rate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
