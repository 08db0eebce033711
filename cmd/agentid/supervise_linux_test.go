package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startSupervised starts `agentid serve` and waits until it listens; it
// returns the supervisor's command, the server process's pid and a
// function that waits for the supervisor and returns its stderr.
func startSupervised(t *testing.T, data string) (*exec.Cmd, int, func() string) {
	t.Helper()
	cmd := exec.Command(agentidBinary(t), "serve", "--addr", "127.0.0.1:0", "--data", data, "--issuer-url", testIssuer)
	cmd.Env = binEnv()
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var mu sync.Mutex
	var errb bytes.Buffer
	listening := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			errb.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if listeningRE.MatchString(sc.Text()) {
				close(listening)
			}
		}
	}()
	select {
	case <-listening:
	case <-done:
		t.Fatalf("serve exited: %s", errb.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not listen in 60 s")
	}
	// /proc/PID/task/TID/children lists the children forked by that one
	// thread, and Go may fork from any of the supervisor's threads: read
	// them all.
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/*/children")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("the supervisor's threads: %v", err)
	}
	var kids []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that exited meanwhile
		}
		kids = append(kids, strings.Fields(string(b))...)
	}
	if len(kids) != 1 {
		t.Fatalf("the supervisor has children %q; want one server process", kids)
	}
	child, _ := strconv.Atoi(kids[0])
	wait := func() string {
		<-done
		_ = cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		return errb.String()
	}
	return cmd, child, wait
}

// TestFaultServeCrashExitsOne: a server process that dies as Go dies on a
// panic in any goroutine (exit 2; here SIGQUIT, which makes the runtime
// dump its goroutines and exit 2) makes `agentid serve` exit 1, not the
// usage code, with one line naming the crash.
func TestFaultServeCrashExitsOne(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	cmd, child, wait := startSupervised(t, initDir(t))
	if err := syscall.Kill(child, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	stderr := wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "agentid: error: the server crashed") {
		t.Fatalf("last stderr line %q; want the crash named", last)
	}
	if !strings.Contains(stderr, "goroutine ") {
		t.Error("the server's trace is not on stderr")
	}
}

// TestFaultServeKillSupervisor: kill -9 of the pid an operator started
// stops the server process too (it must not keep the database locked or
// keep serving), and SIGTERM still shuts it down gracefully (exit 0).
func TestFaultServeKillSupervisor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	data := initDir(t)
	cmd, child, wait := startSupervised(t, data)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(child, 0) == nil {
		// A zombie is gone for our purposes: it holds no lock or socket.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat"); err == nil && bytes.Contains(b, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server process %d still runs 5 s after its supervisor was killed", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd, _, wait = startSupervised(t, data)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if stderr := wait(); cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("SIGTERM: exit %d, want 0\n%s", cmd.ProcessState.ExitCode(), stderr)
	}
}

// TestServeUsageThroughSupervisor: bad usage of serve still exits 2.
func TestServeUsageThroughSupervisor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, args := range [][]string{{"serve", "--max-conns", "0"}, {"serve", "--no-such-flag"}, {"serve", "extra"}} {
		if r := runBin(t, args...); r.code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}
