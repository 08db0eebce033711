package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/pgtest"
	"github.com/agentid/agentid/internal/server"
)

// startReplicaChild starts the real binary as a replica on the database
// dsn, answering on addr for the issuer URL issuerURL (which all replicas
// share), and waits until it is ready. It returns the process and an HTTP
// client that reaches this replica whatever the URL's host.
func startReplicaChild(t *testing.T, bin, dir, addr, issuerURL, dsn string) (*exec.Cmd, *http.Client) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", dir, "--addr", addr, "--issuer-url", issuerURL, "--store", dsn)
	cmd.Env = append(os.Environ(), "AGENTID_MASTER_KEY=")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 16,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	for i := 0; ; i++ {
		resp, err := hc.Get(issuerURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, hc
			}
		}
		if i == 200 {
			t.Fatalf("replica did not become ready: %s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestFaultKillReplicaDuringIssuance runs issuance on two replica
// processes sharing one PostgreSQL database, kills -9 one of them under
// load, and checks that every acknowledged credential is there, that no
// status index was handed out twice (then or after), and that the audit
// chain verifies once the killed replica has restarted.
func TestFaultKillReplicaDuringIssuance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the agentid binary")
	}
	dsn := pgtest.New(t)
	bin := agentidBinary(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	addrA, addrB := freeAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(addrA)
	issuerURL := "http://localhost:" + port
	_, hcA := startReplicaChild(t, bin, dirA, addrA, issuerURL, dsn)
	mk, err := os.ReadFile(filepath.Join(dirA, server.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, server.MasterKeyFile), mk, 0o600); err != nil {
		t.Fatal(err)
	}
	cmdB, hcB := startReplicaChild(t, bin, dirB, addrB, issuerURL, dsn)
	admin, err := client.LoadKey(filepath.Join(dirA, server.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	issue := func(cl *client.Client) (issuedCred, error) {
		return issueOne(ctx, cl, "kill a replica during issuance")
	}
	var (
		mu       sync.Mutex
		issued   []issuedCred
		perSide  [2]int
		stopA    = make(chan struct{})
		wg       sync.WaitGroup
		replicas = []*http.Client{hcA, hcB}
	)
	const workers = 4
	for side, hc := range replicas {
		for range workers {
			wg.Go(func() {
				cl := client.New(issuerURL, admin, client.WithHTTPClient(hc))
				for range 1000 {
					select {
					case <-stopA:
						return
					default:
					}
					c, err := issue(cl)
					if err != nil {
						if side == 1 {
							return // B is gone
						}
						t.Errorf("issuance on the surviving replica: %v", err)
						return
					}
					mu.Lock()
					issued = append(issued, c)
					perSide[side]++
					mu.Unlock()
				}
			})
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmdB.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmdB.Wait()
	time.Sleep(500 * time.Millisecond) // A goes on alone
	close(stopA)
	wg.Wait()
	if perSide[0] < 10 || perSide[1] < 10 {
		t.Fatalf("acknowledged issuances: %d on A, %d on B: the load did not run on both", perSide[0], perSide[1])
	}
	t.Logf("acknowledged issuances: %d on A, %d on B before its kill -9", perSide[0], perSide[1])

	cl := client.New(issuerURL, admin, client.WithHTTPClient(hcA))
	claims := checkAcknowledged(ctx, t, cl, issued, nil)
	for range 20 {
		c, err := issue(cl)
		if err != nil {
			t.Fatalf("issuance after the kill: %v", err)
		}
		claims.claim(c)
	}
	// B restarts on its data directory: what its journal held is chained.
	startReplicaChild(t, bin, dirB, addrB, issuerURL, dsn)
	rep, err := cl.AuditVerify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit verify: %v %+v", err, rep)
	}
}
