package server

import (
	"encoding/binary"

	"github.com/agentid/agentid/api"
)

// decodeVerifyFast decodes the body of POST /v1/verify when it has the
// simple form clients send, and reports false for anything else, so that
// the caller falls back to encoding/json (strict: unknown members refused),
// which then gives the result or error it always did. encoding/json scans
// the ~3 KB body twice byte by byte; on the verifier service's hot path
// that was a seventh of the CPU.
//
// The contract, checked by FuzzVerifyFastDifferential: whenever this
// accepts b, the encoding/json path accepts b too and yields an equal
// api.VerifyRequest. It therefore gives up on escapes and bytes outside
// printable ASCII in strings, on member names that are not exactly the
// struct's JSON names, on repeated members, on null and on any value of
// another type.
func decodeVerifyFast(b []byte, r *api.VerifyRequest) bool {
	d := verifyDec{b: b}
	d.ws()
	if !d.byte('{') {
		return false
	}
	var seen uint8
	d.ws()
	if d.peek('}') {
		d.i++
	} else {
		for {
			d.ws()
			key, ok := d.str()
			if !ok {
				return false
			}
			d.ws()
			if !d.byte(':') {
				return false
			}
			d.ws()
			var bit uint8
			var dst *string
			switch key {
			case "presentation":
				bit, dst = 1, &r.Presentation
			case "audience":
				bit, dst = 2, &r.Audience
			case "nonce":
				bit, dst = 4, &r.Nonce
			case "method":
				bit, dst = 8, &r.Method
			case "url":
				bit, dst = 16, &r.URL
			case "sourceIP":
				bit, dst = 32, &r.SourceIP
			case "scopes":
				bit = 64
			default:
				return false
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			if dst != nil {
				if *dst, ok = d.str(); !ok {
					return false
				}
			} else if r.Scopes, ok = d.strs(); !ok {
				return false
			}
			d.ws()
			if d.peek(',') {
				d.i++
				continue
			}
			if !d.byte('}') {
				return false
			}
			break
		}
	}
	d.ws()
	return d.i == len(d.b)
}

type verifyDec struct {
	b []byte
	i int
}

func (d *verifyDec) ws() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

func (d *verifyDec) peek(c byte) bool { return d.i < len(d.b) && d.b[d.i] == c }

func (d *verifyDec) byte(c byte) bool {
	if d.peek(c) {
		d.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (d *verifyDec) str() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	// Eight bytes at a time while none is < 0x20, >= 0x80, '"' or '\\'
	// (SWAR: (x-k*lsb)&^x&msb is zero iff no byte of x is below k; '"' and
	// '\\' are the zero bytes of x^q and x^e), then byte by byte.
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	for d.i+8 <= len(d.b) {
		x := binary.LittleEndian.Uint64(d.b[d.i:])
		q, e := x^(lsb*'"'), x^(lsb*'\\')
		if ((x-lsb*0x20)&^x|(q-lsb)&^q|(e-lsb)&^e|x)&msb != 0 {
			break
		}
		d.i += 8
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := string(d.b[start:d.i])
			d.i++
			return s, true
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return "", false
		}
		d.i++
	}
	return "", false
}

// strs reads an array of such strings; [] gives a non-nil empty slice, as
// encoding/json does.
func (d *verifyDec) strs() ([]string, bool) {
	if !d.byte('[') {
		return nil, false
	}
	out := []string{}
	d.ws()
	if d.byte(']') {
		return out, true
	}
	for {
		d.ws()
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		d.ws()
		if d.byte(',') {
			continue
		}
		return out, d.byte(']')
	}
}
