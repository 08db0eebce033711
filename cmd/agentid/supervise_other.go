//go:build !linux

package main

import "io"

// supervise serves in-process on systems without Pdeathsig: a panic in a
// goroutine the server did not start exits 2 there (see supervise_linux.go).
func supervise([]string, io.Writer) (int, bool) { return 0, false }
