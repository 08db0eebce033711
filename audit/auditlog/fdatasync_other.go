//go:build !linux

package auditlog

import "os"

// fdatasync flushes f; other systems than Linux use fsync.
func fdatasync(f *os.File) error { return f.Sync() }
