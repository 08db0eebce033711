package verifier

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the CPU time the calling OS thread has used so far (lock
// the goroutine to its thread first), or 0 if unknown. Unlike wall time
// it leaves out the time other processes took the CPU away.
// clock_gettime(CLOCK_THREAD_CPUTIME_ID) counts in nanoseconds, where
// getrusage may count in scheduler ticks. The external tests (package
// verifier_test) reach it as ThreadCPU (threadcpu_test.go).
func threadCPU() time.Duration {
	const clockThreadCPUTime = 3
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
