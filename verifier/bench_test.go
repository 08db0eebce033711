package verifier

import (
	"context"
	"crypto/ed25519"
	"strconv"
	"testing"

	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// BenchmarkVerify compares a full verification with its baseline, a bare
// ed25519.Verify of the presentation's signing input, in the same run.
// Budgets (-cpu 1): cached credential ≤ 1.5x the baseline, cold ≤ 2.6x.
// Presentations are signed ahead of the timed loop, each with a unique jti.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	cred := e.credential(e.agent.DID, nil)
	ctx := context.Background()
	sample := e.present(e.agent, cred, nil)
	tok, _ := jws.Parse(sample)
	pub := e.agent.Key.Public().(ed25519.PublicKey)
	b.Logf("presentation %d bytes, credential %d bytes", len(sample), len(cred))

	run := 0
	mk := func(n int, fresh bool) []string {
		run++
		toks := make([]string, n)
		for i := range toks {
			c := cred
			if fresh { // a distinct credential each time defeats the signature cache
				c = e.credential(e.agent.DID, func(c *vc.Credential) { c.ID = "urn:uuid:00000000-0000-4000-8000-" + pad12(run*1_000_000+i) })
			}
			toks[i] = e.present(e.agent, c, func(p *vc.Presentation) { p.Jti = "b-" + strconv.Itoa(run) + "-" + strconv.Itoa(i) })
		}
		return toks
	}
	b.Run("baseline-ed25519.Verify", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, tok.SigningInput, tok.Signature) {
				b.Fatal("verify")
			}
		}
	})
	b.Run("cached-credential", func(b *testing.B) {
		toks := mk(b.N, false)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := e.v.Verify(ctx, toks[i], req("calendar:read")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold-credential", func(b *testing.B) {
		toks := mk(b.N, true)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := e.v.Verify(ctx, toks[i], req("calendar:read")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func pad12(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 12 {
		s = "0" + s
	}
	return s
}
