package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/server"
)

// syncBuf is an output buffer safe for the serve goroutine and the test.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rawGet sends a GET on conn and reads the status line, within d.
func rawGet(conn net.Conn, br *bufio.Reader, path string, d time.Duration) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(d))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	if path != "/v1/status/events" {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp.Status, nil
}

// TestServeMaxConnsAndShutdown runs `agentid serve --max-conns 2`: a
// third connection is not served while two are open, and is once one
// closes; on shutdown an open status change stream ends at once with a
// shutdown event rather than holding the process for the 10 s deadline.
func TestServeMaxConnsAndShutdown(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	addr := strings.TrimPrefix(deadURL(t), "http://")
	_, port, _ := net.SplitHostPort(addr)
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	root := newRoot(strings.NewReader(""), &out, &errb)
	root.SetArgs([]string{"serve", "--data", dir, "--addr", "127.0.0.1:" + port, "--issuer-url", "http://localhost:" + port, "--max-conns", "2"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	for i := 0; ; i++ {
		resp, err := hc.Get("http://127.0.0.1:" + port + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, errb.String())
		default:
		}
		if i == 100 {
			t.Fatalf("server did not start: %v\n%s", err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the probe's connection is released

	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	// Connection 1: a status change stream. Connection 2: kept alive.
	sse, sseR := dial()
	if st, err := rawGet(sse, sseR, "/v1/status/events", 2*time.Second); err != nil || st != "200 OK" {
		t.Fatalf("stream: %q %v", st, err)
	}
	idle, idleR := dial()
	if st, err := rawGet(idle, idleR, "/healthz", 2*time.Second); err != nil || st != "200 OK" {
		t.Fatalf("second connection: %q %v", st, err)
	}
	// Connection 3 waits in the backlog, unserved.
	third, thirdR := dial()
	if st, err := rawGet(third, thirdR, "/healthz", 500*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection over --max-conns 2 was served: %q %v", st, err)
	}
	idle.Close()
	_ = third.SetDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(thirdR, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("third connection after one closed: %v %v", resp, err)
	}
	resp.Body.Close()

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop within 5 s of the signal")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v with a stream open; want at once", d)
	}
	_ = sse.SetDeadline(time.Now().Add(time.Second))
	rest, _ := io.ReadAll(sseR)
	if !strings.Contains(string(rest), "event: shutdown\n") {
		t.Fatalf("stream ended without a shutdown event: %q", rest)
	}
	t.Logf("shutdown with an open stream took %v", time.Since(start).Round(time.Millisecond))
}

func TestServeMaxConnsFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, _, errOut := agentid(t, "", "serve", "--data", dir, "--addr", "127.0.0.1:0", "--max-conns", "0")
	if code != 2 || !strings.Contains(errOut, "--max-conns must be at least 1") {
		t.Fatalf("--max-conns 0: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused serve touched the data directory: %v", err)
	}
}

// TestOpenErrorIssuerURLHint: the hint after a refusal for another issuer
// URL names the command that changes it where it is recorded: the data
// directory (bbolt) or the database every replica shares (--store).
func TestOpenErrorIssuerURLHint(t *testing.T) {
	cases := []struct {
		name     string
		database bool
		want     string
		not      string
	}{
		{"bbolt", false, "'agentid init --data DIR --change-issuer-url http://localhost:9090'", "--store"},
		{"postgres", true, "'agentid init --store postgres://… --change-issuer-url http://localhost:9090' with every replica stopped", "--data DIR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := &server.IssuerURLError{Stored: "http://localhost:8080", Given: "http://localhost:9090", Database: c.database}
			err := openError(in)
			if !errors.Is(err, server.ErrIssuerURL) {
				t.Fatalf("openError = %v; want it to wrap ErrIssuerURL", err)
			}
			var h hintError
			if !errors.As(err, &h) || len(h.hints) == 0 {
				t.Fatalf("openError = %#v; want hints", err)
			}
			if !strings.HasPrefix(h.hints[0], "start it with --issuer-url http://localhost:8080, or change the URL with ") {
				t.Errorf("hint %q", h.hints[0])
			}
			if !strings.Contains(h.hints[0], c.want) {
				t.Errorf("hint %q; want it to contain %q", h.hints[0], c.want)
			}
			if strings.Contains(h.hints[0], c.not) {
				t.Errorf("hint %q names %q", h.hints[0], c.not)
			}
		})
	}
}
