package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"runtime"
	"testing"
	"time"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/verifier"
)

// BenchmarkVerifyStore measures the verifier service's pipeline (own
// status checker, durable audit log, replay cache, as NewServer wires
// them) on the bbolt single node (the baseline) and on one PostgreSQL
// replica, in one run, without HTTP.
func BenchmarkVerifyStore(b *testing.B) {
	b.Run("bbolt", func(b *testing.B) {
		benchVerifyOn(b, start(b, b.TempDir()))
	})
	b.Run("postgres", func(b *testing.B) {
		benchVerifyOn(b, startReplicasB(b)[0])
	})
}

func startReplicasB(b *testing.B) []*testServer {
	b.Helper()
	dsn := pgtest.New(b)
	dir := b.TempDir()
	ts, _ := serveTest(b, "127.0.0.1:0", Config{DataDir: dir, StoreURL: dsn}, nil)
	return []*testServer{ts}
}

func benchVerifyOn(b *testing.B, ts *testServer) {
	tuned(b)
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	agent, _ := client.KeyFromSigner(priv)
	out, err := ts.issue(b, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		b.Fatal(err)
	}
	app := ts.app
	v, err := verifier.New(verifier.WithKeyResolver(app.Issuer.KeyResolver()), verifier.WithTrustedIssuers(app.Issuer.DID()),
		verifier.WithStatusChecker(app.ownStatus()), verifier.WithAudit(app.Audit),
		verifier.WithConcurrency(runtime.GOMAXPROCS(0)),
		verifier.WithReplayCache(app.replayVerify))
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, b.N)
	for i := range toks {
		toks[i], _ = agent.Present(client.PresentOptions{Credential: out.Credential, Audience: "https://calendar.example.com", Lifetime: 5 * time.Minute})
	}
	b.ResetTimer()
	concurrently(b, func(i int) error {
		_, err := v.Verify(ctx, toks[i], verifier.Request{Audience: "https://calendar.example.com"})
		return err
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}
