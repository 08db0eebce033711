//go:build !linux

package verifier_test

import "time"

// threadCPU is unknown here.
func threadCPU() time.Duration { return 0 }
