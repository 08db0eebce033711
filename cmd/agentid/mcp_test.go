package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
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
	adminKey := filepath.Join(data, server.AdminKeyFile)
	agent, agentFile, iss := readOnlyAgent(t, issuerURL, adminKey, dir, resource)

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

// python3WithJWT returns the python3 that has PyJWT and cryptography (the
// libraries the MCP Python SDK signs with), or skips saying why; with
// AGENTID_REQUIRE_PYTHON=1 (.ci/run) it fails instead.
func python3WithJWT(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import jwt, cryptography").Run() == nil {
			return py
		}
	}
	msg := "no python3 with PyJWT and cryptography (Debian: python3-jwt python3-cryptography)"
	if os.Getenv("AGENTID_REQUIRE_PYTHON") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + ": skipping the Python MCP host")
	return ""
}

// TestMCPPythonHost runs examples/mcp-py-host, the client-credentials
// flow of the MCP Python SDK's PrivateKeyJWTOAuthProvider replayed with
// the SDK's own JWT library (PyJWT), against examples/mcp-server: a
// read-only agent connects (the challenge's scope is what the host asks
// for), gets a bearer token for the resource the issuer serves bearer
// tokens for, and calls a tool; a tool outside its scope is refused;
// without the issuer's bearer switch the token endpoint refuses the
// host (DPoP required), as the docs say.
func TestMCPPythonHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three programs")
	}
	py := python3WithJWT(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	bearerPort, dpopPort := freePort(t), freePort(t)
	bearerRes := fmt.Sprintf("http://localhost:%d/mcp", bearerPort)
	dpopRes := fmt.Sprintf("http://localhost:%d/mcp", dpopPort)
	issuerURL, _ := startServerWith(t, data, func(c *server.Config) { c.OAuthBearerResources = []string{bearerRes} })
	mcpServer := buildExample(t, dir, "mcp-server")
	for port, res := range map[int]string{bearerPort: bearerRes, dpopPort: dpopRes} {
		srv := startProgram(t, mcpServer, "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--resource", res,
			"--issuer-url", issuerURL, "--status-events", "", "--allow-bearer")
		srv.await(t, "mcp-server: listening", 30*time.Second)
	}

	agent, agentFile, _ := readOnlyAgent(t, issuerURL, filepath.Join(data, server.AdminKeyFile), dir, bearerRes, dpopRes)
	host := "../../examples/mcp-py-host/host.py"

	ok := startProgram(t, py, host, agentFile, agent.DID, bearerRes)
	ok.await(t, "initialize without a token: 401", 30*time.Second)
	if line, _ := ok.await(t, "token_type Bearer expires_in", 10*time.Second); !strings.HasSuffix(line, " scope calendar:read") {
		t.Fatalf("the host asked for more than the challenge's scope: %s", line)
	}
	ok.await(t, "list_events → events for "+agent.DID, 10*time.Second)

	write := startProgram(t, py, host, agentFile, agent.DID, bearerRes, "add_event", `{"title":"x","start":"2026-12-01T10:00Z"}`)
	write.await(t, "py-host: error: add_event: insufficient_scope", 30*time.Second)

	dpop := startProgram(t, py, host, agentFile, agent.DID, dpopRes)
	dpop.await(t, "a DPoP proof is required", 30*time.Second)
	for range dpop.ch {
	}
	if code := dpop.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("host without the bearer switch: exit %d, want 1", code)
	}
}

// readOnlyAgent has the admin (key file adminKey) register a new agent
// with calendar:read for the resources, and writes its key to
// dir/agent.jwk.
func readOnlyAgent(t *testing.T, issuerURL, adminKey, dir string, resources ...string) (*client.Key, string, *api.Issued) {
	t.Helper()
	ctx := context.Background()
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
		Audiences: resources, Owner: "team-cal", Purpose: "read the calendar"})
	if err != nil {
		t.Fatal(err)
	}
	return agent, agentFile, iss
}
