package server

import (
	"os"
	"runtime"
	"runtime/debug"
)

// Tuning is the Go runtime configuration the verifier service runs with.
type Tuning struct {
	// Cores is the number of CPUs the process may use: Go's default
	// GOMAXPROCS (which follows CPU affinity and cgroup quotas), or the
	// GOMAXPROCS environment variable when set.
	Cores int
	// Procs is the GOMAXPROCS in effect after tuning.
	Procs int
	// GCPercent is the GC percent in effect after tuning.
	GCPercent int
}

// TuneRuntime applies the runtime settings `agentid serve` runs with and
// returns them with a function restoring the previous ones (for
// benchmarks, which must measure what the server does). An environment
// variable set by the operator always wins.
//
//   - GOMAXPROCS is one more than the cores (unless GOMAXPROCS is set).
//     Every audit commit blocks its goroutine in fdatasync, twice; Go hands
//     the blocked processor to other goroutines only when its monitor
//     thread notices, after 20 µs to several milliseconds. Until then one
//     core in two sits idle: with the audit log on, the in-process
//     verification benchmark used 1.83 of 2 cores at GOMAXPROCS=2 and
//     1.95 at GOMAXPROCS=3 (docs/performance.md).
//   - The GC percent is 400 (unless GOGC is set): the live heap is small
//     (caches and buffers), and collecting less often raised the verifier
//     service's throughput by about a tenth.
//
// Setting GOMAXPROCS turns off the runtime's own updates of it when the
// container's CPU quota changes; restart the service after changing it.
func TuneRuntime() (Tuning, func()) {
	prevProcs := runtime.GOMAXPROCS(0)
	prevGC := debug.SetGCPercent(-1)
	debug.SetGCPercent(prevGC)
	t := Tuning{Cores: prevProcs, Procs: prevProcs, GCPercent: prevGC}
	if os.Getenv("GOMAXPROCS") == "" {
		t.Procs = t.Cores + 1
		runtime.GOMAXPROCS(t.Procs)
	}
	if os.Getenv("GOGC") == "" {
		t.GCPercent = 400
		debug.SetGCPercent(t.GCPercent)
	}
	return t, func() {
		runtime.GOMAXPROCS(prevProcs)
		debug.SetGCPercent(prevGC)
	}
}
