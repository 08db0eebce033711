// Command agentid-loadgen measures the verifier service: it registers an
// agent with a running `agentid serve`, signs a pool of presentations (each
// with a unique jti, so none is a replay), then sends them to POST
// /v1/verify from many connections for a fixed time and reports valid
// verifications per second, latency percentiles, and the ratio to raw
// ed25519.Verify per second on all cores measured in the same run.
//
//	go run ./cmd/agentid serve &
//	go run ./cmd/agentid-loadgen -duration 10s -concurrency 128
//
// It only ever sends traffic to the --server URL; point it at loopback.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/loadtest"
)

func main() {
	srv := flag.String("server", "http://localhost:8080", "agentid server (loopback only)")
	keyFile := flag.String("key", "data/admin.jwk", "admin or orchestrator key")
	duration := flag.Duration("duration", 10*time.Second, "load duration")
	conc := flag.Int("concurrency", 128, "concurrent connections")
	pool := flag.Int("presentations", 0, "requests to prepare (default: enough for 25,000 verifications/s or 5,000 issuances/s)")
	baseline := flag.Duration("baseline", 3*time.Second, "how long to measure the raw ed25519 baseline")
	mode := flag.String("mode", "verify", "verify: POST /v1/verify; issue: POST /v1/agents")
	flag.Parse()
	var err error
	switch *mode {
	case "verify":
		err = run(*srv, *keyFile, *duration, *conc, *pool, *baseline)
	case "issue":
		err = runIssue(*srv, *keyFile, *duration, *conc, *pool, *baseline)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentid-loadgen: error:", err)
		os.Exit(1)
	}
}

func run(srv, keyFile string, duration time.Duration, conc, pool int, baseline time.Duration) error {
	if err := loadtest.Loopback(srv); err != nil {
		return err
	}
	ctx := context.Background()
	admin, err := client.LoadKey(keyFile)
	if err != nil {
		return err
	}
	cl := client.New(srv, admin)
	const aud = "https://load.example.com"
	reg, err := loadtest.RegisterAgent(ctx, cl, aud, "loadgen")
	if err != nil {
		return err
	}
	if pool == 0 {
		pool = int(duration.Seconds()*25000) + 1000
	}
	fmt.Printf("signing %d presentations...\n", pool)
	// Presentations live long enough for the whole run.
	bodies := loadtest.VerifyBodies(reg, aud, pool)

	raw := loadtest.RawVerifyRate(baseline)
	fmt.Printf("baseline: raw ed25519.Verify on %d cores: %.0f/s\n", runtime.GOMAXPROCS(0), raw)

	var invalid atomic.Int64
	res, err := drive(srv, conc, duration, pool, func(c *conn, i int) (bool, error) {
		st, body, err := c.post("/v1/verify", "", bodies[i])
		if err != nil || st != 200 {
			return false, err
		}
		if !isValid(body) {
			if invalid.Add(1) == 1 {
				fmt.Printf("first refusal: %s\n", body)
			}
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	report("verify service", res, conc, raw)
	if res.failed > 0 {
		return fmt.Errorf("%d requests failed or were refused (%d refused)", res.failed, invalid.Load())
	}
	return nil
}

// runIssue measures issuance over HTTP: every request registers a fresh
// agent with its own proof of control and an admin request presentation,
// all signed before the timed phase.
func runIssue(srv, keyFile string, duration time.Duration, conc, pool int, baseline time.Duration) error {
	if err := loadtest.Loopback(srv); err != nil {
		return err
	}
	ctx := context.Background()
	admin, err := client.LoadKey(keyFile)
	if err != nil {
		return err
	}
	cl := client.New(srv, admin)
	if pool == 0 {
		pool = int(duration.Seconds()*5000) + 500
	}
	fmt.Printf("preparing %d issuance requests (nonces, proofs, request presentations)...\n", pool)
	type prepared struct {
		body []byte
		auth string
	}
	reqs := make([]prepared, pool)
	var wg sync.WaitGroup
	var prepErr atomic.Value
	workers := 8
	for w := range workers {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < pool; i += workers {
				_, priv, _ := ed25519.GenerateKey(rand.Reader)
				agent, _ := client.KeyFromSigner(priv)
				proof, err := cl.Proof(ctx, agent)
				if err != nil {
					prepErr.Store(err)
					return
				}
				body, _ := json.Marshal(api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"load:test"},
					Audiences: []string{"https://load.example.com"}, Owner: "loadgen", Purpose: "load test"})
				auth, _ := admin.Present(client.PresentOptions{Audience: srv, Method: http.MethodPost, URL: srv + "/v1/agents", Lifetime: 5 * time.Minute})
				reqs[i] = prepared{body, auth}
			}
		}(w)
	}
	wg.Wait()
	if e, ok := prepErr.Load().(error); ok {
		return e
	}
	raw := loadtest.RawSignRate(baseline)
	fmt.Printf("baseline: raw ed25519.Sign on %d cores: %.0f/s\n", runtime.GOMAXPROCS(0), raw)
	res, err := drive(srv, conc, duration, pool, func(c *conn, i int) (bool, error) {
		st, body, err := c.post("/v1/agents", reqs[i].auth, reqs[i].body)
		if err == nil && st != http.StatusCreated {
			err = fmt.Errorf("HTTP %d: %s", st, body)
		}
		return err == nil, err
	})
	if err != nil {
		return err
	}
	report("issuance", res, conc, raw)
	if res.failed > 0 {
		return fmt.Errorf("%d failed requests", res.failed)
	}
	return nil
}

// result is what a load run measured.
type result struct {
	ok, failed int64
	elapsed    time.Duration
	latencies  []time.Duration
	exhausted  bool
}

// drive sends requests 0..pool-1 over conc connections until duration ends
// or the pool runs out; send reports whether request i succeeded. The
// first error is printed.
func drive(srv string, conc int, duration time.Duration, pool int, send func(c *conn, i int) (bool, error)) (result, error) {
	conns := make([]*conn, conc)
	for w := range conns {
		var err error
		if conns[w], err = dial(srv); err != nil {
			return result{}, err
		}
	}
	var next, ok, failed atomic.Int64
	var once sync.Once
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	deadline := time.Now().Add(duration)
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			c := conns[w]
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= pool {
					return
				}
				t0 := time.Now()
				good, err := send(c, i)
				lat[w] = append(lat[w], time.Since(t0))
				if good {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				if err != nil {
					once.Do(func() { fmt.Println("first failure:", err) })
					if c, err = dial(srv); err != nil {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	r := result{ok: ok.Load(), failed: failed.Load(), elapsed: time.Since(start), exhausted: int(next.Load()) >= pool}
	r.latencies = loadtest.Sorted(lat)
	return r, nil
}

func report(what string, r result, conc int, raw float64) {
	rate := float64(r.ok) / r.elapsed.Seconds()
	fmt.Printf("%s: %d ok, %d failed in %v (%d connections)\n", what, r.ok, r.failed, r.elapsed.Round(time.Millisecond), conc)
	fmt.Printf("throughput: %.0f/s\n", rate)
	fmt.Printf("latency: %s\n", loadtest.Percentiles(r.latencies))
	fmt.Printf("ratio to the raw baseline: %.3f\n", rate/raw)
	if r.exhausted {
		fmt.Println("note: the request pool ran out before the duration ended; raise -presentations")
	}
}
