package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
)

// startChild starts the real agentid binary serving dir on a free
// loopback port and waits until it is ready.
func startChild(t *testing.T, bin, dir, addr string) (*exec.Cmd, string) {
	t.Helper()
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	_, port, _ := net.SplitHostPort(addr)
	base := "http://localhost:" + port
	cmd := exec.Command(bin, "serve", "--data", dir, "--addr", addr, "--issuer-url", base)
	cmd.Env = append(os.Environ(), "AGENTID_MASTER_KEY=")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, base
			}
		}
		if i == 200 {
			t.Fatalf("agentid serve did not become ready: %s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildAgentid builds the agentid binary into a temporary directory and
// returns it with a data directory path beside it (not created). It skips
// under -short.
// killUnderLoad lets the load run for 1.5 s, kills -9 the server cmd,
// then stops the load's workers (closing stop) and waits for them.
func killUnderLoad(t *testing.T, cmd *exec.Cmd, stop chan struct{}, wg *sync.WaitGroup) {
	t.Helper()
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(stop)
	wg.Wait()
}

func buildAgentid(t *testing.T) (bin, dataDir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the agentid binary")
	}
	tmp := t.TempDir()
	bin = filepath.Join(tmp, "agentid")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, filepath.Join(tmp, "data")
}

// TestFaultKillDuringVerifications kills -9 the real server while it
// answers verifications from 16 connections, restarts it, and checks that
// every verification answered 200 before the kill is in the audit trail,
// exactly once, and that the chain verifies.
func TestFaultKillDuringVerifications(t *testing.T) {
	bin, dir := buildAgentid(t)
	cmd, base := startChild(t, bin, dir, "")

	ctx := context.Background()
	admin, err := client.LoadKey(filepath.Join(dir, server.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(base, admin)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	agent, _ := client.KeyFromSigner(priv)
	proof, err := cl.Proof(ctx, agent)
	if err != nil {
		t.Fatal(err)
	}
	const aud = "https://fault.example.com"
	var issued api.Issued
	if err := cl.Do(ctx, http.MethodPost, "/v1/agents", api.IssueRequest{Agent: agent.DID, Proof: proof,
		Scopes: []string{"fault:test"}, Audiences: []string{aud}, TTL: api.Duration(time.Hour), Owner: "fault", Purpose: "fault test"}, &issued); err != nil {
		t.Fatal(err)
	}

	const workers, perWorker = 16, 400 // bounded: at most 6,400 requests
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				select {
				case <-stop:
					return
				default:
				}
				vp, err := agent.Present(client.PresentOptions{Credential: issued.Credential, Audience: aud, Lifetime: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := json.Marshal(api.VerifyRequest{Presentation: vp, Audience: aud, Scopes: []string{"fault:test"}})
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/verify", bytes.NewReader(body))
				rid := fmt.Sprintf("fault-%d-%d", w, i)
				req.Header.Set("X-Request-Id", rid)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					return // the server is gone
				}
				var vr struct {
					Valid bool `json:"valid"`
				}
				err = json.NewDecoder(resp.Body).Decode(&vr)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && err == nil && vr.Valid {
					mu.Lock()
					acked[rid] = true
					mu.Unlock()
				}
			}
		})
	}
	killUnderLoad(t, cmd, stop, &wg)
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 100 {
		t.Fatalf("only %d verifications answered before the kill: the load did not run", n)
	}
	t.Logf("%d verifications answered 200 before kill -9", n)

	// The same address, so the same issuer URL: the data directory
	// refuses another.
	_, base = startChild(t, bin, dir, "127.0.0.1:"+strings.TrimPrefix(base, "http://localhost:"))
	cl = client.New(base, admin)
	var buf bytes.Buffer
	if err := cl.AuditExport(ctx, client.AuditFilter{Action: audit.ActionVerify}, &buf); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, audit.MaxLineSize)
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		seen[ev.RequestID]++
	}
	lost := 0
	for rid := range acked {
		if seen[rid] == 0 {
			lost++
		}
	}
	for rid, c := range seen {
		if c != 1 {
			t.Errorf("request %s recorded %d times", rid, c)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d verifications answered 200 before the kill are not in the audit trail", lost, n)
	}
	rep, err := cl.AuditVerify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit verify after the kill: %v %+v", err, rep)
	}
}
