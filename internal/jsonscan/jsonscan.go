// Package jsonscan is the strict JSON scanner behind the fast decoding
// paths of vc (credentials, presentations) and oauth (access tokens, DPoP
// proofs, JWS headers).
//
// A Scanner reads only the simple form agentid itself writes and gives up
// on anything else: a string with a backslash escape, a byte < 0x20 or
// >= 0x80 (so a string is its raw bytes), null, true, false, a number other
// than -?(0|[1-9][0-9]*) with at most 18 digits, and anything but JSON
// whitespace around the top-level value. Callers add the rest: member names
// matched exactly, each at most once (Once), and a fall back to
// encoding/json whenever the scanner gives up.
//
// Errors are sticky: once a step fails (Bad), every later step fails too,
// so loops end and the caller discards the result.
//
//	var s jsonscan.Scanner
//	s.Reset(b, nil)
//	var seen uint32
//	for more := s.Begin('{', '}'); more; more = s.More('}') {
//		switch s.Key() {
//		case "iss":
//			s.Once(&seen, 0)
//			iss = s.Str()
//		default:
//			s.Fail()
//		}
//	}
//	if !s.End() { /* use encoding/json */ }
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"time"
	"unsafe"
)

// Scanner is a minimal type-driven JSON scanner over one payload. Every
// string it returns is a substring of one copy of the payload.
type Scanner struct {
	b    []byte
	s    string // string(b): decoded strings are substrings of it
	i    int
	bad  bool
	strs []string // free part of the caller's string arena
	tmp  [16]string
}

// Reset makes s scan b from the start. Strings and Strings1 take their
// slices from arena while it lasts (nil: allocate each).
func (d *Scanner) Reset(b []byte, arena []string) {
	*d = Scanner{b: b, s: string(b), strs: arena}
}

// ResetString is Reset for a payload already held as a string: it scans
// s in place, without the copy Reset makes, so the strings it returns are
// substrings of s. The scanner only reads the bytes.
func (d *Scanner) ResetString(s string, arena []string) {
	*d = Scanner{b: unsafe.Slice(unsafe.StringData(s), len(s)), s: s, strs: arena}
}

// Fail marks the scan as failed.
func (d *Scanner) Fail() { d.bad = true }

// Bad reports whether a step has failed.
func (d *Scanner) Bad() bool { return d.bad }

// strByte reports the bytes a fast-path string may contain: printable
// ASCII other than '"' and '\\'.
var strByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (d *Scanner) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// Peek skips whitespace and returns the next byte, or 0 at the end.
func (d *Scanner) Peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// strBounds reads a string and returns the bounds of its content in b.
func (d *Scanner) strBounds() (int, int) {
	if d.bad || d.Peek() != '"' {
		d.bad = true
		return 0, 0
	}
	start := d.i + 1
	end := strEnd(d.b, start)
	if end < 0 {
		d.bad = true
		return 0, 0
	}
	d.i = end + 1
	return start, end
}

// SWAR constants: (x-k*lsb)&^x&msb is zero iff no byte of x is < k
// (k <= 0x80): the lowest such byte sets its top bit, and without one
// nothing borrows. A false positive can only sit above a true one, so the
// test is exact for "any".
const lsb, msb = 0x0101010101010101, 0x8080808080808080

// strEnd returns the index of the '"' that closes the string whose content
// starts at b[start], or -1 unless every byte before it is a strByte.
func strEnd(b []byte, start int) int {
	i := start
	// Short strings, most of a payload's, eight bytes at a time while none
	// is < 0x20, >= 0x80, '"' or '\\' ('"' and '\\' are the zero bytes of
	// x^q and x^e).
	for i+8 <= len(b) && i-start < 64 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, e := x^(lsb*'"'), x^(lsb*'\\')
		if ((x-lsb*0x20)&^x|(q-lsb)&^q|(e-lsb)&^e|x)&msb != 0 {
			break
		}
		i += 8
	}
	if i-start >= 64 {
		return longStrEnd(b, i)
	}
	for i < len(b) && strByte[b[i]] {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	return i
}

// longStrEnd is strEnd for the rest of a long string (such as the
// credential a presentation envelopes, most of its payload) from b[i]:
// the end is the first '"', found by the vectorised IndexByte, and the
// bytes before it are checked 32 at a time.
func longStrEnd(b []byte, i int) int {
	q := bytes.IndexByte(b[i:], '"')
	if q < 0 {
		return -1
	}
	end := i + q
	// With no '"' before end, a byte is bad iff < 0x20, >= 0x80 (|x) or
	// '\\' (a zero byte of x^e).
	bad := func(x uint64) uint64 {
		e := x ^ (lsb * '\\')
		return (x - lsb*0x20) | x | (e-lsb)&^e
	}
	for i+32 <= end {
		w := b[i : i+32]
		if (bad(binary.LittleEndian.Uint64(w))|bad(binary.LittleEndian.Uint64(w[8:]))|
			bad(binary.LittleEndian.Uint64(w[16:]))|bad(binary.LittleEndian.Uint64(w[24:])))&msb != 0 {
			break
		}
		i += 32
	}
	for i < end && strByte[b[i]] {
		i++
	}
	if i != end {
		return -1
	}
	return end
}

// Str reads a string.
func (d *Scanner) Str() string {
	i, j := d.strBounds()
	return d.s[i:j]
}

// Key reads a member name and the colon after it.
func (d *Scanner) Key() string {
	k := d.Str()
	if d.Peek() != ':' {
		d.bad = true
		return ""
	}
	d.i++
	return k
}

// Once marks member n (< 32) of an object as seen and fails on a duplicate.
func (d *Scanner) Once(seen *uint32, n uint) {
	if *seen&(1<<n) != 0 {
		d.bad = true
	}
	*seen |= 1 << n
}

// Begin consumes open and reports whether the object or array has members.
func (d *Scanner) Begin(open, close byte) bool {
	if d.bad || d.Peek() != open {
		d.bad = true
		return false
	}
	d.i++
	if d.Peek() == close {
		d.i++
		return false
	}
	return true
}

// More consumes a ',' (true) or close (false) after a member or element.
func (d *Scanner) More(close byte) bool {
	if d.bad {
		return false
	}
	switch d.Peek() {
	case ',':
		d.i++
		return true
	case close:
		d.i++
		return false
	}
	d.bad = true
	return false
}

// End reports whether scanning succeeded and only whitespace is left.
func (d *Scanner) End() bool {
	if d.bad {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

// Int64 reads -?(0|[1-9][0-9]*) with at most 18 digits.
func (d *Scanner) Int64() int64 {
	if d.bad {
		return 0
	}
	d.ws()
	b, i := d.b, d.i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var n int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	if digits := i - start; digits == 0 || digits > 18 || (b[start] == '0' && digits > 1) ||
		(i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E')) {
		d.bad = true
		return 0
	}
	d.i = i
	if neg {
		n = -n
	}
	return n
}

// Time reads a string and decodes it with (*time.Time).UnmarshalJSON, as
// encoding/json does, from the same raw bytes.
func (d *Scanner) Time(t *time.Time) {
	i, j := d.strBounds()
	if !d.bad && t.UnmarshalJSON(d.b[i-1:j+1]) != nil {
		d.bad = true
	}
}

// Strings reads an array of strings. An empty array gives an empty, non-nil
// slice, as encoding/json does.
func (d *Scanner) Strings() []string {
	tmp := d.tmp[:0]
	for more := d.Begin('[', ']'); more; more = d.More(']') {
		tmp = append(tmp, d.Str())
	}
	n := len(tmp)
	if d.bad {
		return nil
	}
	if n == 0 {
		return []string{}
	}
	var out []string
	if n <= len(d.strs) {
		out, d.strs = d.strs[:n:n], d.strs[n:]
	} else {
		out = make([]string, n)
	}
	copy(out, tmp)
	return out
}

// Strings1 reads one string as a one-element slice (the string form of a
// JWT audience).
func (d *Scanner) Strings1() []string {
	s := d.Str()
	if d.bad {
		return nil
	}
	var out []string
	if len(d.strs) > 0 {
		out, d.strs = d.strs[:1:1], d.strs[1:]
	} else {
		out = make([]string, 1)
	}
	out[0] = s
	return out
}
