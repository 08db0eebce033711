package verifier_test

import (
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD (not in package syscall).
const rusageThread = 1

// threadCPU is the CPU time the calling OS thread has used so far (lock
// the goroutine to its thread first), or 0 if unknown. Unlike wall time
// it leaves out the time other processes took the CPU away.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
