// Package base64url decodes unpadded base64url (RFC 4648 §5) straight
// from a string, as the compact JWS segments of agentid's tokens are, and
// about twice as fast as encoding/base64.
//
// Decode gives exactly what base64.RawURLEncoding.Strict().Decode gives
// for the same bytes (result, count and error): it decodes sixteen
// characters at a time while every one of them is in the alphabet, and
// hands the rest, and any input with a byte outside the alphabet (which
// encoding/base64 may skip, as it does CR and LF, or report), to
// encoding/base64. FuzzDecode checks the equivalence.
//
//	buf := make([]byte, base64url.DecodedLen(len(s)))
//	n, err := base64url.Decode(buf, s)
package base64url

import (
	"encoding/base64"
	"encoding/binary"
)

var std = base64.RawURLEncoding.Strict()

// DecodedLen is the most bytes n characters decode to.
func DecodedLen(n int) int { return std.DecodedLen(n) }

// invalid marks a byte outside the alphabet in the tables below: OR-ed
// with any valid entries, bit 31 stays set.
const invalid = 1 << 31

// dec0..dec3 hold each character's six bits already shifted to their place
// in a 24-bit group of four characters.
var dec0, dec1, dec2, dec3 = func() (a, b, c, d [256]uint32) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range a {
		a[i], b[i], c[i], d[i] = invalid, invalid, invalid, invalid
	}
	for v, ch := range []byte(alphabet) {
		a[ch], b[ch], c[ch], d[ch] = uint32(v)<<18, uint32(v)<<12, uint32(v)<<6, uint32(v)
	}
	return
}()

// Decode decodes s into dst, which must have room for DecodedLen(len(s))
// bytes, and returns the number of bytes written. Errors are
// encoding/base64's (base64.CorruptInputError).
func Decode(dst []byte, s string) (int, error) {
	n, i := 0, 0
	for len(s)-i >= 16 && len(dst)-n >= 14 {
		q := s[i : i+16]
		w0 := dec0[q[0]] | dec1[q[1]] | dec2[q[2]] | dec3[q[3]]
		w1 := dec0[q[4]] | dec1[q[5]] | dec2[q[6]] | dec3[q[7]]
		w2 := dec0[q[8]] | dec1[q[9]] | dec2[q[10]] | dec3[q[11]]
		w3 := dec0[q[12]] | dec1[q[13]] | dec2[q[14]] | dec3[q[15]]
		if (w0|w1|w2|w3)&invalid != 0 {
			// A byte outside the alphabet: encoding/base64 decides what
			// it means, from the start.
			return std.Decode(dst, []byte(s))
		}
		// Each 8-byte store writes 6 bytes of output and 2 that the next
		// store (or the tail) overwrites; dst has room for them (the loop
		// condition).
		d := dst[n : n+14]
		binary.BigEndian.PutUint64(d, uint64(w0)<<40|uint64(w1)<<16)
		binary.BigEndian.PutUint64(d[6:], uint64(w2)<<40|uint64(w3)<<16)
		n += 12
		i += 16
	}
	// The rest starts on a group boundary: decoded alone, it gives what it
	// gives at the end of the whole input.
	m, err := std.Decode(dst[n:], []byte(s[i:]))
	if err != nil {
		return std.Decode(dst, []byte(s))
	}
	return n + m, nil
}
