package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

// supervise runs `agentid serve` in a child process and maps its exit:
// Go exits 2, the usage code, on a panic in any goroutine or a fatal
// runtime error, and no recover reaches a panic in a goroutine the server
// did not start itself (bbolt's batch timer, for one). The child, told by
// superviseEnv, exits childUsageCode for bad usage instead; the supervisor
// turns that back into 2, a crash (2) into 1 with one line naming it, and
// passes every other status through. Signals to the supervisor (SIGINT,
// SIGTERM, SIGHUP) are forwarded; if the supervisor dies, even by SIGKILL,
// the kernel kills the child (Pdeathsig), so that `kill -9` of the pid an
// operator started still stops the server at once.
//
// It returns ok = false, and the caller serves in-process, for any other
// command, inside the child, or when the executable cannot be found or
// started.
func supervise(args []string, stderr io.Writer) (code int, ok bool) {
	if os.Getenv(superviseEnv) != "" {
		return 0, false
	}
	c, _, err := newRoot(nil, io.Discard, io.Discard).Find(args)
	if err != nil || c.Name() != "serve" {
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, false
	}
	// Pdeathsig fires when the thread that started the child exits: keep
	// this goroutine on its thread for the life of the process.
	runtime.LockOSThread()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), superviseEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		// Serve in-process rather than not at all (an executable replaced
		// or removed since it started, say): only main-goroutine panics
		// then exit 1.
		signal.Stop(sigs)
		runtime.UnlockOSThread()
		return 0, false
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if err == nil {
		return 0, true
	}
	if !errors.As(err, &ee) {
		fmt.Fprintf(stderr, "agentid: error: the server process: %v\n", err)
		return 1, true
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited() && ws.ExitStatus() == childUsageCode:
		return 2, true
	case ws.Exited() && ws.ExitStatus() == 2:
		fmt.Fprintln(stderr, "agentid: error: the server crashed (a panic or a fatal runtime error; its trace is above)")
		return 1, true
	case ws.Exited():
		return ws.ExitStatus(), true
	case ws.Signaled():
		fmt.Fprintf(stderr, "agentid: error: the server process was killed by %v\n", ws.Signal())
		return 1, true
	}
	fmt.Fprintf(stderr, "agentid: error: the server process: %v\n", err)
	return 1, true
}
