// Command agentid-tokenload is a load generator for the OAuth token
// endpoint (POST /oauth/token). It registers an agent with a running
// `agentid serve`, signs one fresh private_key_jwt assertion and one fresh
// DPoP proof per request (unique jti each: none is a replay), measures raw
// ed25519.Verify per second on all cores, then sends the token requests
// from -c concurrent connections (the standard library's net/http client)
// for -duration and prints tokens per second, latency percentiles and the
// ratio to the raw rate measured in the same run.
//
//	go run ./cmd/agentid-tokenload -server http://127.0.0.1:8080 -key data/admin.jwk -c 32
//
// Only loopback servers are accepted. Proofs are valid for two minutes
// after they are signed, so a run is at most one minute.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/oauth"
)

func main() {
	srv := flag.String("server", "http://127.0.0.1:8080", "agentid server (loopback only)")
	issuerURL := flag.String("issuer-url", "http://localhost:8080", "the issuer URL the server was started with (htu and aud name it)")
	keyFile := flag.String("key", "data/admin.jwk", "admin or orchestrator key")
	duration := flag.Duration("duration", 10*time.Second, "load duration (at most 1m)")
	conc := flag.Int("c", 32, "concurrent connections")
	perSec := flag.Int("requests-per-second", 6000, "requests to prepare per second of -duration")
	baseline := flag.Duration("baseline", 3*time.Second, "how long to measure the raw ed25519.Verify baseline")
	flag.Parse()
	if err := run(*srv, *issuerURL, *keyFile, *duration, *conc, *perSec, *baseline); err != nil {
		fmt.Fprintln(os.Stderr, "agentid-tokenload: error:", err)
		os.Exit(1)
	}
}

func run(srv, issuerURL, keyFile string, duration time.Duration, conc, perSec int, baseline time.Duration) error {
	u, err := url.Parse(srv)
	if err != nil {
		return err
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
	default:
		return fmt.Errorf("refusing to load %s: only loopback targets are allowed", srv)
	}
	if duration <= 0 || duration > time.Minute || conc < 1 || conc > 1024 {
		return fmt.Errorf("-duration must be in (0, 1m] and -c in [1, 1024]")
	}
	ctx := context.Background()
	admin, err := client.LoadKey(keyFile)
	if err != nil {
		return err
	}
	cl := client.New(srv, admin)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	agent, _ := client.KeyFromSigner(priv)
	proof, err := cl.Proof(ctx, agent)
	if err != nil {
		return err
	}
	const aud = "https://tokenload.example.com"
	var issued api.Issued
	if err := cl.Do(ctx, http.MethodPost, "/v1/agents", api.IssueRequest{Agent: agent.DID, Proof: proof,
		Scopes: []string{"load:test"}, Audiences: []string{aud}, TTL: api.Duration(time.Hour),
		Owner: "tokenload", Purpose: "load test"}, &issued); err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	tokenURL := strings.TrimSuffix(issuerURL, "/") + "/oauth/token"
	pool := int(duration.Seconds()*float64(perSec)) + 1000
	fmt.Printf("signing %d assertions and DPoP proofs...\n", pool)
	bodies, proofs := make([]string, pool), make([]string, pool)
	var wg sync.WaitGroup
	per := (pool + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	now := time.Now()
	for lo := 0; lo < pool; lo += per {
		hi := min(lo+per, pool)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				a, err := oauth.NewClientAssertion(agent.Signer, agent.DID, tokenURL, now)
				if err != nil {
					panic(err)
				}
				bodies[i] = url.Values{"grant_type": {oauth.GrantClientCredentials}, "client_assertion_type": {oauth.ClientAssertionType},
					"client_assertion": {a}, "scope": {"load:test"}, "resource": {aud}}.Encode()
				if proofs[i], err = oauth.NewProof(priv, oauth.ProofOptions{Method: http.MethodPost, URL: tokenURL}); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()

	raw := rawVerifyRate(baseline)
	fmt.Printf("baseline: raw ed25519.Verify on %d cores: %.0f/s\n", runtime.GOMAXPROCS(0), raw)

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true,
	}}
	endpoint := srv + "/oauth/token"
	var next, ok, bad atomic.Int64
	var firstErr sync.Once
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(duration)
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= pool {
					return
				}
				t0 := time.Now()
				err := post(hc, endpoint, bodies[i], proofs[i])
				lat[w] = append(lat[w], time.Since(t0))
				if err == nil {
					ok.Add(1)
					continue
				}
				bad.Add(1)
				firstErr.Do(func() { fmt.Println("first failure:", err) })
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	r := float64(ok.Load()) / elapsed.Seconds()
	fmt.Printf("token (net/http, closed loop): %d issued, %d failed in %v (%d connections)\n", ok.Load(), bad.Load(), elapsed.Round(time.Millisecond), conc)
	fmt.Printf("throughput: %.0f tokens/s\n", r)
	fmt.Printf("latency: p50 %v, p90 %v, p99 %v, max %v\n", pct(.5), pct(.9), pct(.99), pct(1))
	fmt.Printf("ratio to the raw baseline: %.3f\n", r/raw)
	if int(next.Load()) >= pool {
		fmt.Println("note: the request pool ran out before the duration ended; raise -requests-per-second")
	}
	if bad.Load() > 0 {
		return fmt.Errorf("%d requests failed or were refused", bad.Load())
	}
	return nil
}

// post sends one token request and reports an error unless it was
// answered 200 with a token.
func post(hc *http.Client, endpoint, body, proof string) error {
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"access_token"`) {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

// rawVerifyRate measures ed25519.Verify per second on all cores for d.
func rawVerifyRate(d time.Duration) float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 1500)
	sig := ed25519.Sign(priv, msg)
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			c := int64(0)
			for time.Now().Before(stop) {
				if !ed25519.Verify(pub, msg, sig) {
					panic("ed25519.Verify failed on its own signature")
				}
				c++
			}
			n.Add(c)
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}
