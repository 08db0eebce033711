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
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/loadtest"
	"github.com/agentid/agentid/oauth"
)

func main() {
	srv := flag.String("server", "http://127.0.0.1:8080", "agentid server (loopback only)")
	issuerURL := flag.String("issuer-url", "", "the issuer URL the server was started with (htu and aud name it; default: -server)")
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
	if err := loadtest.Loopback(srv); err != nil {
		return err
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
	const aud = "https://tokenload.example.com"
	reg, err := loadtest.RegisterAgent(ctx, cl, aud, "tokenload")
	if err != nil {
		return err
	}
	agent, priv := reg.Key, reg.Priv
	if issuerURL == "" {
		issuerURL = srv
	}
	tokenURL := strings.TrimSuffix(issuerURL, "/") + "/oauth/token"
	pool := int(duration.Seconds()*float64(perSec)) + 1000
	fmt.Printf("signing %d assertions and DPoP proofs...\n", pool)
	bodies, proofs := make([]string, pool), make([]string, pool)
	now := time.Now()
	loadtest.Prepare(pool, func(i int) {
		a, err := oauth.NewClientAssertion(agent.Signer, agent.DID, tokenURL, now)
		if err != nil {
			panic(err)
		}
		bodies[i] = url.Values{"grant_type": {oauth.GrantClientCredentials}, "client_assertion_type": {oauth.ClientAssertionType},
			"client_assertion": {a}, "scope": {"load:test"}, "resource": {aud}}.Encode()
		if proofs[i], err = oauth.NewProof(priv, oauth.ProofOptions{Method: http.MethodPost, URL: tokenURL}); err != nil {
			panic(err)
		}
	})

	raw := loadtest.RawVerifyRate(baseline)
	fmt.Printf("baseline: raw ed25519.Verify on %d cores: %.0f/s\n", runtime.GOMAXPROCS(0), raw)

	hc := loadtest.HTTPClient(conc)
	endpoint := srv + "/oauth/token"
	var wg sync.WaitGroup
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
	r := float64(ok.Load()) / elapsed.Seconds()
	fmt.Printf("token (net/http, closed loop): %d issued, %d failed in %v (%d connections)\n", ok.Load(), bad.Load(), elapsed.Round(time.Millisecond), conc)
	fmt.Printf("throughput: %.0f tokens/s\n", r)
	fmt.Printf("latency: %s\n", loadtest.Percentiles(loadtest.Sorted(lat)))
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
