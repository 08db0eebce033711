package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/verifier"
)

// noAudit is an issuer.AuditLog that records nothing: the baseline for
// the cost of auditing. Reads go to the real log, which stays empty of
// what the benchmark does.
type noAudit struct{ issuer.AuditLog }

func (noAudit) AppendTx(store.Tx, *audit.Event) error      { return nil }
func (noAudit) Append(context.Context, *audit.Event) error { return nil }

// BenchmarkAuditOverhead measures verification and issuance with the
// durable bbolt audit log against the same work with a no-op sink, in one
// run: the audit trail must cost at most 15% of throughput. Both use many
// concurrent callers, as a server does, so that commits are batched. Each
// variant starts from a fresh data directory, so that neither inherits the
// other's database, and runs with the server's runtime settings.
func BenchmarkAuditOverhead(b *testing.B) {
	for _, v := range []struct {
		name  string
		audit bool
	}{{"no-op-sink", false}, {"bbolt-audit-log", true}} {
		b.Run("verify/"+v.name, func(b *testing.B) { benchVerifyAudit(b, v.audit, false) })
	}
	for _, v := range []struct {
		name  string
		audit bool
	}{{"no-op-sink", false}, {"bbolt-audit-log", true}} {
		b.Run("issue/"+v.name, func(b *testing.B) { benchIssueAudit(b, v.audit) })
	}
}

// tuned applies the server's runtime settings for the rest of the
// benchmark. (The testing package sets GOMAXPROCS before each
// sub-benchmark, so this is done inside each.)
func tuned(b *testing.B) {
	_, restore := TuneRuntime()
	b.Cleanup(restore)
}

// BenchmarkReplayJournal measures the verifier service's configuration
// (bbolt audit log) with the in-memory replay cache against the journal
// that outlives restarts (one write-behind commit per gathered batch).
func BenchmarkReplayJournal(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchVerifyAudit(b, true, false) })
	b.Run("journal", func(b *testing.B) { benchVerifyAudit(b, true, true) })
}

func benchVerifyAudit(b *testing.B, withAudit, journal bool) {
	ts := start(b, b.TempDir())
	tuned(b)
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	agent, _ := client.KeyFromSigner(priv)
	out, err := ts.issue(b, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		b.Fatal(err)
	}
	app := ts.app
	var sink audit.Sink = audit.Discard
	if withAudit {
		sink = app.Audit
	}
	v, err := verifier.New(verifier.WithKeyResolver(app.Issuer.KeyResolver()), verifier.WithTrustedIssuers(app.Issuer.DID()),
		verifier.WithStatusChecker(app.Issuer.StatusChecker()), verifier.WithAudit(sink),
		verifier.WithConcurrency(runtime.GOMAXPROCS(0)), // as the verifier service is configured
		verifier.WithReplayCache(replayCache(app, journal)))
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, b.N)
	for i := range toks {
		toks[i], _ = agent.Present(client.PresentOptions{Credential: out.Credential, Audience: "https://calendar.example.com", Lifetime: 5 * time.Minute})
	}
	concurrently(b, func(i int) error {
		_, err := v.Verify(ctx, toks[i], verifier.Request{Audience: "https://calendar.example.com"})
		return err
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

func replayCache(app *App, journal bool) verifier.ReplayCache {
	if journal {
		return app.replayVerify
	}
	return verifier.NewMemoryReplayCache(0)
}

func benchIssueAudit(b *testing.B, withAudit bool) {
	ts := start(b, b.TempDir())
	tuned(b)
	ctx := context.Background()
	app := ts.app
	var sink issuer.AuditLog = noAudit{app.Audit}
	if withAudit {
		sink = app.Audit
	}
	is, err := issuer.New(app.DB, app.Keys, app.Status, sink, issuer.Config{URL: ts.url})
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]issuer.IssueRequest, b.N)
	for i := range reqs {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		a, _ := client.KeyFromSigner(k)
		p, _ := a.Present(client.PresentOptions{Audience: ts.url, Nonce: is.Nonce(), For: app.AdminDID, Lifetime: 5 * time.Minute})
		reqs[i] = issuer.IssueRequest{Agent: a.DID, Proof: p, Scopes: []string{"calendar:read"},
			Audiences: []string{"https://calendar.example.com"}, Owner: "bench", Purpose: "bench"}
	}
	admin := &issuer.Principal{DID: app.AdminDID, Role: issuer.RoleAdmin}
	if admin.DID == "" {
		b.Fatal("no admin")
	}
	concurrently(b, func(i int) error {
		_, err := is.Issue(ctx, admin, reqs[i])
		return err
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creds/s")
}

// callers is the number of concurrent callers: a server's in-flight
// requests. (testing.B.RunParallel hands out iterations in large grains,
// which leaves most of its goroutines idle at these b.N, so the benchmark
// runs its own workers.)
const callers = 1024

// concurrently resets the timer, runs f(0..b.N-1) from callers goroutines,
// and reports the cores the process kept busy meanwhile.
func concurrently(b *testing.B, f func(i int) error) {
	b.ResetTimer()
	cpu0 := cpuTime()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				if err := f(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(cpu.Seconds()/b.Elapsed().Seconds(), "cores-busy")
	}
}
