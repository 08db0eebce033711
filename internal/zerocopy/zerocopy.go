// Package zerocopy converts between string and []byte without copying, for
// the verification hot path, where a token's bytes are hashed, decoded and
// scanned but never written.
//
// Both conversions share memory: the caller must not write to the bytes
// of Bytes(s) ever, nor to b once String(b) has been taken (a string must
// never change). Use them only where that is plain from the code around
// them, and say so there.
package zerocopy

import "unsafe"

// Bytes returns the bytes of s, to be read only.
func Bytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// String returns b as a string; b must not be written afterwards.
func String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
