package server

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
)

// BenchmarkOAuthToken measures the token endpoint's issuance path
// (AuthServer.Token, below HTTP): the assertion's and the proof's
// signatures checked, the agent's credential read from the store, the
// token signed, its grant appended to the durable audit log (group
// commit, fsync), from 1024 concurrent callers. Assertions and proofs are
// signed ahead of the timed loop. The baseline in the same run is one
// ed25519.Verify; the path does two verifications and one signature.
func BenchmarkOAuthToken(b *testing.B) {
	ts, s := serveTest(b, "127.0.0.1:0", Config{DataDir: b.TempDir()}, nil)
	tuned(b)
	k, _ := ts.oauthAgent(b)
	ctx := context.Background()
	priv := k.PrivateKey().(ed25519.PrivateKey)
	sample := proof(b, priv, http.MethodPost, ts.tokenURL(), "")
	msg := []byte(sample)
	sig := ed25519.Sign(priv, msg)
	b.Run("baseline-ed25519.Verify", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, sig) {
				b.Fatal("verify")
			}
		}
	})
	b.Run("token", func(b *testing.B) {
		reqs := make([]issuer.TokenRequest, b.N)
		now := time.Now()
		for i := range reqs {
			a, err := oauth.NewClientAssertion(k.Signer, k.DID, ts.tokenURL(), now)
			if err != nil {
				b.Fatal(err)
			}
			reqs[i] = issuer.TokenRequest{GrantType: oauth.GrantClientCredentials, ClientID: k.DID,
				ClientAssertionType: oauth.ClientAssertionType, ClientAssertion: a, Resources: []string{calendar},
				Scope: "calendar:read", HasScope: true, Method: http.MethodPost, URL: ts.tokenURL(),
				DPoP: proof(b, priv, http.MethodPost, ts.tokenURL(), "")}
		}
		concurrently(b, func(i int) error {
			_, err := s.oauth.Token(ctx, reqs[i])
			return err
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	})
}

// BenchmarkOAuthTokenHTTP is BenchmarkOAuthToken through HTTP (the gin
// engine on a loopback listener, 32 keep-alive connections of net/http),
// client and server in one process on the same cores.
func BenchmarkOAuthTokenHTTP(b *testing.B) {
	ts, _ := serveTest(b, "127.0.0.1:0", Config{DataDir: b.TempDir()}, nil)
	k, _ := ts.oauthAgent(b)
	priv := k.PrivateKey().(ed25519.PrivateKey)
	bodies, proofs := make([]string, b.N), make([]string, b.N)
	now := time.Now()
	for i := range bodies {
		a, err := oauth.NewClientAssertion(k.Signer, k.DID, ts.tokenURL(), now)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = url.Values{"grant_type": {oauth.GrantClientCredentials}, "client_assertion_type": {oauth.ClientAssertionType},
			"client_assertion": {a}, "resource": {calendar}}.Encode()
		proofs[i] = proof(b, priv, http.MethodPost, ts.tokenURL(), "")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32}}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, ts.tokenURL(), strings.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("DPoP", proofs[i])
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("HTTP %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
