// Command agentid-httpload is a second, independent load generator for the
// verifier service. Where agentid-loadgen drives POST /v1/verify over its
// own minimal HTTP/1.1 connections, this one uses nothing but the standard
// library's net/http client, so that a shortcut in either client shows up
// as a disagreement between the two.
//
// It registers an agent with a running `agentid serve`, signs one fresh
// presentation per request (unique jti: none is a replay), measures raw
// ed25519.Verify per second on all cores, then sends the presentations
// from -c concurrent connections for -duration and prints valid
// verifications per second, latency percentiles and the ratio to the raw
// rate measured in the same run.
//
//	go run ./cmd/agentid-httpload -server http://127.0.0.1:8080 -key data/admin.jwk -c 32
//
// Only loopback servers are accepted; the run is bounded by -duration.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/loadtest"
)

func main() {
	srv := flag.String("server", "http://127.0.0.1:8080", "agentid server (loopback only)")
	keyFile := flag.String("key", "data/admin.jwk", "admin or orchestrator key")
	duration := flag.Duration("duration", 10*time.Second, "load duration (at most 2m)")
	conc := flag.Int("c", 32, "concurrent connections")
	rate := flag.Int("presentations-per-second", 20000, "presentations to prepare per second of -duration")
	baseline := flag.Duration("baseline", 3*time.Second, "how long to measure the raw ed25519.Verify baseline")
	open := flag.Int("rate", 0, "open loop: send this many requests per second in all, spread over the connections, latency measured from each request's scheduled time (0: closed loop, as fast as answered)")
	serverPID := flag.Int("server-pid", 0, "process id of the server, when on this machine: report its CPU time per verification from /proc, its child processes included (serve runs the server in a supervised child on Linux) (0: not reported)")
	path := flag.String("path", "/v1/verify", "path the verifications are posted to (/v1/floor: the HTTP floor served by internal/server's TestHTTPFloorServe)")
	flag.Parse()
	if err := run(*srv, *keyFile, *path, *duration, *conc, *rate, *baseline, *open, *serverPID); err != nil {
		fmt.Fprintln(os.Stderr, "agentid-httpload: error:", err)
		os.Exit(1)
	}
}

func run(srv, keyFile, path string, duration time.Duration, conc, perSec int, baseline time.Duration, openRate, serverPID int) error {
	if err := loadtest.Loopback(srv); err != nil {
		return err
	}
	if duration <= 0 || duration > 2*time.Minute || conc < 1 || conc > 1024 {
		return fmt.Errorf("-duration must be in (0, 2m] and -c in [1, 1024]")
	}
	ctx := context.Background()
	admin, err := client.LoadKey(keyFile)
	if err != nil {
		return err
	}
	cl := client.New(srv, admin)
	const aud = "https://httpload.example.com"
	reg, err := loadtest.RegisterAgent(ctx, cl, aud, "httpload")
	if err != nil {
		return err
	}
	if openRate > 0 {
		perSec = openRate + openRate/10
	}
	pool := int(duration.Seconds()*float64(perSec)) + 1000
	fmt.Printf("signing %d presentations...\n", pool)
	bodies := loadtest.VerifyBodies(reg, aud, pool)

	b0, err := selfCPU()
	if err != nil {
		return err
	}
	raw := loadtest.RawVerifyRate(baseline)
	b1, _ := selfCPU()
	// The CPU time one ed25519.Verify took in the baseline: unlike cores ÷
	// rate, it does not grow when other processes take the cores.
	verifyCPU := time.Duration(float64(b1-b0) / (raw * baseline.Seconds()))
	fmt.Printf("baseline: raw ed25519.Verify on %d cores: %.0f/s (%v of CPU each)\n", runtime.GOMAXPROCS(0), raw, verifyCPU.Round(100*time.Nanosecond))

	hc := loadtest.HTTPClient(conc)
	endpoint := srv + path
	var wg sync.WaitGroup
	var next, ok, bad atomic.Int64
	var firstErr sync.Once
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(duration)
	self0, err := selfCPU()
	if err != nil {
		return err
	}
	srv0, err := processCPU(serverPID)
	if err != nil {
		return err
	}
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			var every time.Duration
			sched := start
			if openRate > 0 {
				every = time.Duration(float64(time.Second) * float64(conc) / float64(openRate))
				sched = start.Add(every * time.Duration(w) / time.Duration(conc))
			}
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= pool {
					return
				}
				t0 := time.Now()
				if every > 0 {
					// Open loop: wait for this request's slot and count
					// its latency from there, so that a slow answer
					// delays the clock, not the measurement.
					time.Sleep(time.Until(sched))
					t0 = sched
					sched = sched.Add(every)
				}
				valid, err := post(hc, endpoint, bodies[i])
				lat[w] = append(lat[w], time.Since(t0))
				if valid {
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
	self1, _ := selfCPU()
	srv1, err := processCPU(serverPID)
	if err != nil {
		return err
	}
	r := float64(ok.Load()) / elapsed.Seconds()
	mode := "closed loop"
	if openRate > 0 {
		mode = fmt.Sprintf("open loop at %d/s", openRate)
	}
	fmt.Printf("verify (net/http, %s): %d valid, %d failed in %v (%d connections)\n", mode, ok.Load(), bad.Load(), elapsed.Round(time.Millisecond), conc)
	fmt.Printf("throughput: %.0f/s\n", r)
	fmt.Printf("latency: %s\n", loadtest.Percentiles(loadtest.Sorted(lat)))
	fmt.Printf("ratio to the raw baseline: %.3f\n", r/raw)
	if n := ok.Load() + bad.Load(); n > 0 {
		// The CPU each side spent per request, against the CPU one
		// ed25519.Verify takes (cores / raw rate): where the time goes.
		verify := time.Duration(float64(runtime.GOMAXPROCS(0)) / raw * float64(time.Second))
		per := func(d time.Duration) time.Duration { return d / time.Duration(n) }
		cl := per(self1 - self0)
		fmt.Printf("cpu per request: client %v (%.1f × ed25519.Verify at %v)", cl.Round(100*time.Nanosecond), float64(cl)/float64(verify), verify.Round(100*time.Nanosecond))
		if serverPID > 0 {
			sv := per(srv1 - srv0)
			fmt.Printf(", server %v (%.1f × ed25519.Verify)", sv.Round(100*time.Nanosecond), float64(sv)/float64(verify))
		}
		fmt.Println()
		if serverPID > 0 && verifyCPU > 0 {
			sv := per(srv1 - srv0)
			fmt.Printf("cpu per request in ed25519.Verify's CPU time (%v): client %.2f ×, server %.2f ×\n",
				verifyCPU.Round(100*time.Nanosecond), float64(cl)/float64(verifyCPU), float64(sv)/float64(verifyCPU))
		}
		// With this client on the same cores, a server that did nothing
		// but one ed25519.Verify per request could reach at most this
		// ratio.
		fmt.Printf("ceiling with this client on these cores (server = one ed25519.Verify): ratio %.3f\n", float64(verify)/float64(cl+verify))
	}
	if int(next.Load()) >= pool {
		fmt.Println("note: the presentation pool ran out before the duration ended; raise -presentations-per-second")
	}
	if bad.Load() > 0 {
		return fmt.Errorf("%d requests failed or were refused", bad.Load())
	}
	return nil
}

// post sends one verification and reports whether it was answered 200
// with "valid":true.
func post(hc *http.Client, endpoint string, body []byte) (bool, error) {
	resp, err := hc.Post(endpoint, "application/json", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	var v struct {
		Valid bool `json:"valid"`
	}
	if err := json.Unmarshal(b, &v); err != nil || !v.Valid {
		return false, fmt.Errorf("not valid: %s", b)
	}
	return true, nil
}

// selfCPU is the user and system CPU time this process has used.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// processCPU is the user and system CPU time of process pid, all its
// threads, from /proc/PID/stat (fields 14 and 15, in USER_HZ = 100 ticks a
// second on Linux). pid 0 reports 0.
func processCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	// `agentid serve` on Linux serves from a supervised child process:
	// the CPU of pid is its own and its descendants'.
	var total time.Duration
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		d, err := ownCPU(p)
		if err != nil {
			if p != pid && errors.Is(err, os.ErrNotExist) {
				continue // a child that ended meanwhile
			}
			return 0, err
		}
		total += d
		todo = append(todo, children(p)...)
	}
	return total, nil
}

// children lists pid's child processes (from each thread's
// /proc/PID/task/TID/children).
func children(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// ownCPU is the user and system CPU time of process pid (all its
// threads), from /proc/PID/stat.
func ownCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("-server-pid: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("-server-pid: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("-server-pid: unexpected /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state), so fields 14 and 15 are f[11] and f[12].
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("-server-pid: unexpected /proc/%d/stat", pid)
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}
