//go:build unix

package boltstore

import (
	"math"
	"os"
	"syscall"
)

// mapFile maps size bytes of f read-only, or returns nil.
func mapFile(f *os.File, size int64) ([]byte, func()) {
	if size <= 0 || size > math.MaxInt {
		return nil, nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil
	}
	return mem, func() { _ = syscall.Munmap(mem) }
}
