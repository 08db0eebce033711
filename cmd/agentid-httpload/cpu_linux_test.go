package main

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// The CPU time -server-pid reports is the process's and its children's:
// `agentid serve` on Linux serves from a supervised child, and its
// supervisor, which is what users name, spends next to nothing.
func TestProcessCPUCountsChildren(t *testing.T) {
	// A shell (the "supervisor") that waits for a busy child.
	cmd := exec.Command("sh", "-c", `sh -c 'i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done' & wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skip("no sh:", err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the shell and its child
		cmd.Wait()
	}()
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		all, err := processCPU(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		own, err := ownCPU(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if all >= 100*time.Millisecond && own < all/2 {
			return // the child's CPU, not the waiting parent's
		}
		time.Sleep(50 * time.Millisecond)
	}
	all, _ := processCPU(cmd.Process.Pid)
	own, _ := ownCPU(cmd.Process.Pid)
	t.Fatalf("after 2.5 s of a busy child: processCPU %v, the parent's own %v; want the child's CPU counted", all, own)
}

func TestProcessCPUOfNoProcess(t *testing.T) {
	if d, err := processCPU(0); d != 0 || err != nil {
		t.Errorf("pid 0: %v, %v; want 0, nil (not asked)", d, err)
	}
	if _, err := processCPU(1 << 30); err == nil {
		t.Error("a process that does not exist: no error")
	}
}
