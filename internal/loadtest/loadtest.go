// Package loadtest holds what agentid's load generators (cmd/agentid-loadgen,
// cmd/agentid-httpload, cmd/agentid-tokenload) share: the loopback-only
// target check, registering the agent whose credential a run presents,
// signing the request pool on all cores, latency percentiles, and the raw
// ed25519 baseline every figure is reported against, measured in the same
// run.
//
//	if err := loadtest.Loopback(srv); err != nil { … }
//	raw := loadtest.RawVerifyRate(3 * time.Second)
//	lat := loadtest.Sorted(perConn)
//	fmt.Println("latency:", loadtest.Percentiles(lat))
package loadtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// Loopback refuses a target URL whose host is not localhost, 127.0.0.1 or
// ::1: the generators only ever load a server on this machine.
func Loopback(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return nil
	}
	return fmt.Errorf("refusing to load %s: only loopback targets are allowed", target)
}

// Agent is a freshly registered agent and its credential.
type Agent struct {
	Key    *client.Key
	Priv   ed25519.PrivateKey
	Issued api.Issued
}

// RegisterAgent creates an agent key and registers it through cl (POST
// /v1/agents) with scope load:test, audience aud and a one-hour credential,
// owned by owner.
func RegisterAgent(ctx context.Context, cl *client.Client, aud, owner string) (*Agent, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := client.KeyFromSigner(priv)
	if err != nil {
		return nil, err
	}
	proof, err := cl.Proof(ctx, key)
	if err != nil {
		return nil, err
	}
	a := &Agent{Key: key, Priv: priv}
	if err := cl.Do(ctx, http.MethodPost, "/v1/agents", api.IssueRequest{Agent: key.DID, Proof: proof,
		Scopes: []string{"load:test"}, Audiences: []string{aud}, TTL: api.Duration(time.Hour),
		Owner: owner, Purpose: "load test"}, &a.Issued); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	return a, nil
}

// Prepare calls fill(i) for every i in [0, n), in GOMAXPROCS contiguous
// ranges run in parallel, and returns when all are done.
func Prepare(n int, fill func(i int)) {
	var wg sync.WaitGroup
	per := (n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fill(i)
			}
		})
	}
	wg.Wait()
}

// VerifyBodies signs n presentations of a's credential for aud, each with
// its own jti (none is a replay) and valid for five minutes, as POST
// /v1/verify request bodies asking for scope load:test.
func VerifyBodies(a *Agent, aud string, n int) [][]byte {
	bodies := make([][]byte, n)
	Prepare(n, func(i int) {
		vp, err := a.Key.Present(client.PresentOptions{Credential: a.Issued.Credential, Audience: aud, Lifetime: 5 * time.Minute})
		if err != nil {
			panic(err)
		}
		bodies[i], _ = json.Marshal(api.VerifyRequest{Presentation: vp, Audience: aud, Scopes: []string{"load:test"}})
	})
	return bodies
}

// HTTPClient is a standard library client for conc concurrent
// connections to one host, without compression.
func HTTPClient(conc int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true,
	}}
}

// Sorted merges the latencies each connection recorded into one sorted
// slice.
func Sorted(perConn [][]time.Duration) []time.Duration {
	var all []time.Duration
	for _, l := range perConn {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

// Percentile returns the p-quantile (0 <= p <= 1) of sorted latencies: the
// element at index ⌊len·p⌋, the largest for p = 1, zero for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// Percentiles formats p50, p90, p99 and max of sorted latencies.
func Percentiles(sorted []time.Duration) string {
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v",
		Percentile(sorted, .5), Percentile(sorted, .9), Percentile(sorted, .99), Percentile(sorted, 1))
}

// RawRate measures op per second on all cores (GOMAXPROCS goroutines)
// for d.
func RawRate(d time.Duration, op func()) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			c := int64(0)
			for time.Now().Before(stop) {
				op()
				c++
			}
			n.Add(c)
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// RawSignRate measures ed25519.Sign of a 1,200-byte message per second on
// all cores for d: the baseline for issuance.
func RawSignRate(d time.Duration) float64 {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 1200)
	return RawRate(d, func() { ed25519.Sign(priv, msg) })
}

// RawVerifyRate measures ed25519.Verify of a 1,500-byte message per second
// on all cores for d: the baseline for verification and token issuance.
func RawVerifyRate(d time.Duration) float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 1500)
	sig := ed25519.Sign(priv, msg)
	return RawRate(d, func() {
		if !ed25519.Verify(pub, msg, sig) {
			panic("ed25519.Verify failed on its own signature")
		}
	})
}
