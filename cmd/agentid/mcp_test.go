package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
)

// buildExample builds ./examples/<name> into dir.
func buildExample(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", bin, "../../examples/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

// lines runs a program and hands its stdout lines to a channel.
type lines struct {
	cmd *exec.Cmd
	ch  chan string
	mu  sync.Mutex
	all []string
}

func startProgram(t *testing.T, bin string, args ...string) *lines {
	t.Helper()
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &lines{cmd: cmd, ch: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.mu.Unlock()
			l.ch <- sc.Text()
		}
		close(l.ch)
	}()
	// exited closes once Wait has returned: only then are the stderr
	// buffer and ProcessState the test's to read.
	exited := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		l.mu.Lock()
		t.Logf("%s %s:\n%s\n[stderr, first 2000 bytes]\n%.2000s", filepath.Base(bin), strings.Join(args, " "), strings.Join(l.all, "\n"), stderr.String())
		l.mu.Unlock()
	})
	return l
}

// await returns the first line containing s, within d.
func (l *lines) await(t *testing.T, s string, d time.Duration) (string, time.Time) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case line, ok := <-l.ch:
			if !ok {
				t.Fatalf("program exited before printing %q", s)
			}
			if strings.Contains(line, s) {
				return line, time.Now()
			}
		case <-timeout:
			t.Fatalf("no %q within %v", s, d)
		}
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestMCPExamples runs examples/mcp-server and examples/mcp-agent for
// real against an issuer: the agent starts from the 401, discovers the
// authorization server, gets a DPoP-bound token with private_key_jwt and
// calls a tool; after `agentid credential revoke` its next call is
// refused, within a second.
func TestMCPExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three programs")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	issuerURL, _ := startServer(t, data)
	mcpServer := buildExample(t, dir, "mcp-server")
	mcpAgent := buildExample(t, dir, "mcp-agent")

	port := freePort(t)
	resource := fmt.Sprintf("http://localhost:%d/mcp", port)
	srv := startProgram(t, mcpServer, "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--resource", resource,
		"--issuer-url", issuerURL, "--status-events", issuerURL+"/v1/status/events")
	srv.await(t, "mcp-server: listening", 30*time.Second)

	// The admin registers the agent for the MCP server, read-only.
	ctx := context.Background()
	adminKey := filepath.Join(data, server.AdminKeyFile)
	admin, err := client.LoadKey(adminKey)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(issuerURL, admin)
	agent, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	agentFile := filepath.Join(dir, "agent.jwk")
	if err := agent.WriteFile(agentFile); err != nil {
		t.Fatal(err)
	}
	proof, err := cl.Proof(ctx, agent)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := cl.Issue(ctx, api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:read"},
		Audiences: []string{resource}, Owner: "team-cal", Purpose: "read the calendar"})
	if err != nil {
		t.Fatal(err)
	}

	// One call: the whole discovery, then the tool.
	once := startProgram(t, mcpAgent, "--key", agentFile, "--server", resource)
	once.await(t, "without a token: 401", 30*time.Second)
	once.await(t, "DPoP token for "+resource+" as "+agent.DID, 10*time.Second)
	once.await(t, "list_events → events for "+agent.DID, 10*time.Second)
	// A tool whose scope the credential lacks is refused.
	write := startProgram(t, mcpAgent, "--key", agentFile, "--server", resource, "--tool", "add_event", "--args", `{"title":"x","start":"2026-12-01T10:00Z"}`)
	write.await(t, "DPoP token", 30*time.Second)
	if _, ok := <-write.ch; ok {
		t.Fatal("add_event printed a result")
	}
	if code := write.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("add_event: exit %d, want 1", code)
	}

	// Calls every 100 ms with one token; revoke with the CLI.
	loop := startProgram(t, mcpAgent, "--key", agentFile, "--server", resource, "--every", "100ms")
	loop.await(t, "call 3: ok", 30*time.Second)
	r := runBin(t, "credential", "revoke", iss.ID, "--server", issuerURL, "--key", adminKey)
	revoked := time.Now()
	if r.code != 0 {
		t.Fatalf("credential revoke: exit %d", r.code)
	}
	line, at := loop.await(t, "refused", 5*time.Second)
	if d := at.Sub(revoked); d > time.Second {
		t.Fatalf("refused %v after the revocation, want < 1 s: %s", d, line)
	}
	t.Logf("refused %v after `agentid credential revoke` returned: %s", at.Sub(revoked).Round(time.Millisecond), line)
}
