package vc

import (
	"encoding/binary"
	"time"
)

// A fast path for DecodeCredential and DecodePresentation.
//
// encoding/json dominates the cost of verifying a vc+jwt: it validates the
// payload in one pass, then walks it again through reflection. The decoders
// below handle only the simple form that agentid itself writes, and say
// "can't" (ok == false) for anything else so that the caller falls back to
// json.Unmarshal, which then produces the result or error it always did.
//
// The contract, checked by FuzzFastDecodeDifferential: whenever a fast
// decoder accepts b, json.Unmarshal(b, &v) succeeds and v is
// reflect.DeepEqual to the fast result. To keep that easy to see, the fast
// path gives up on:
//
//   - any string with a backslash escape, a byte < 0x20 or a byte >= 0x80
//     (no unescaping and no UTF-8 repair needed: a string is its raw bytes);
//   - any member name that is not exactly one of the type's JSON names
//     (encoding/json matches names case-insensitively and skips unknown
//     members), and any member given twice;
//   - null, true, false, and a value of another JSON type than the field's;
//   - numbers other than -?(0|[1-9][0-9]*) with at most 18 digits (always
//     fits int64);
//   - an issuer object, a validFrom/validUntil that time.Time rejects;
//   - anything but JSON whitespace around the top-level object.
//
// Every decoded string is a substring of one copy of the payload, and the
// struct, its pointed-to parts and small slices share one allocation.

// credentialBlock holds a Credential and the storage its pointers and small
// slices point into, so that a typical credential costs one allocation
// (plus the payload copy).
type credentialBlock struct {
	c      Credential
	from   time.Time
	until  time.Time
	cons   Constraints
	tw     TimeWindow
	schema Schema
	status [4]StatusEntry
	strs   [12]string
	links  [4]DelegationLink
}

// presentationBlock is credentialBlock for a Presentation.
type presentationBlock struct {
	p    Presentation
	env  [1]Enveloped
	strs [8]string
}

// fastDec is a minimal type-driven JSON scanner. Errors are sticky: once bad
// is set every step fails, so loops end and the result is discarded.
type fastDec struct {
	b    []byte
	s    string // string(b): decoded strings are substrings of it
	i    int
	bad  bool
	strs []string // free part of the block's string arena
	tmp  [16]string
}

// strByte reports the bytes a fast-path string may contain: printable
// ASCII other than '"' and '\\'.
var strByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (d *fastDec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (d *fastDec) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// strBounds reads a string and returns the bounds of its content in b.
func (d *fastDec) strBounds() (int, int) {
	if d.bad || d.peek() != '"' {
		d.bad = true
		return 0, 0
	}
	b := d.b
	start := d.i + 1
	i := start
	// Eight bytes at a time while none is < 0x20, >= 0x80, '"' or '\\'.
	// SWAR: (x-k*lsb)&^x&msb is zero iff no byte of x is < k (k <= 0x80):
	// the lowest such byte sets its top bit, and without one nothing
	// borrows. '"' and '\\' are the zero bytes of x^q and x^e.
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		q, e := x^(lsb*'"'), x^(lsb*'\\')
		if ((x-lsb*0x20)&^x|(q-lsb)&^q|(e-lsb)&^e|x)&msb != 0 {
			break
		}
		i += 8
	}
	for i < len(b) && strByte[b[i]] {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		d.bad = true
		return 0, 0
	}
	d.i = i + 1
	return start, i
}

func (d *fastDec) str() string {
	i, j := d.strBounds()
	return d.s[i:j]
}

// key reads a member name and the colon after it.
func (d *fastDec) key() string {
	k := d.str()
	if d.peek() != ':' {
		d.bad = true
		return ""
	}
	d.i++
	return k
}

// once marks member n of an object as seen and fails on a duplicate.
func (d *fastDec) once(seen *uint32, n uint) {
	if *seen&(1<<n) != 0 {
		d.bad = true
	}
	*seen |= 1 << n
}

// begin consumes open and reports whether the object or array has members.
func (d *fastDec) begin(open, close byte) bool {
	if d.bad || d.peek() != open {
		d.bad = true
		return false
	}
	d.i++
	if d.peek() == close {
		d.i++
		return false
	}
	return true
}

// more consumes a ',' (true) or close (false) after a member or element.
func (d *fastDec) more(close byte) bool {
	if d.bad {
		return false
	}
	switch d.peek() {
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

// end reports whether decoding succeeded and only whitespace is left.
func (d *fastDec) end() bool {
	if d.bad {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

// int64 reads -?(0|[1-9][0-9]*) with at most 18 digits.
func (d *fastDec) int64() int64 {
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

// time reads a string and decodes it with (*time.Time).UnmarshalJSON, as
// encoding/json does, from the same raw bytes.
func (d *fastDec) time(t *time.Time) {
	i, j := d.strBounds()
	if !d.bad && t.UnmarshalJSON(d.b[i-1:j+1]) != nil {
		d.bad = true
	}
}

// strings reads an array of strings. An empty array gives an empty, non-nil
// slice, as encoding/json does.
func (d *fastDec) strings() []string {
	tmp := d.tmp[:0]
	for more := d.begin('[', ']'); more; more = d.more(']') {
		tmp = append(tmp, d.str())
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

// fastDecodeCredential decodes a credential payload in the simple form, or
// reports false: then the caller must use encoding/json.
func fastDecodeCredential(b []byte) (*Credential, bool) {
	blk := new(credentialBlock)
	d := fastDec{b: b, s: string(b), strs: blk.strs[:]}
	c := &blk.c
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "@context":
			d.once(&seen, 0)
			c.Context = d.strings()
		case "id":
			d.once(&seen, 1)
			c.ID = d.str()
		case "type":
			d.once(&seen, 2)
			c.Type = d.strings()
		case "issuer":
			d.once(&seen, 3)
			c.Issuer.ID = d.str() // the object form falls back
		case "validFrom":
			d.once(&seen, 4)
			d.time(&blk.from)
			c.ValidFrom = &blk.from
		case "validUntil":
			d.once(&seen, 5)
			d.time(&blk.until)
			c.ValidUntil = &blk.until
		case "credentialSubject":
			d.once(&seen, 6)
			d.subject(&c.CredentialSubject, blk)
		case "credentialStatus":
			d.once(&seen, 7)
			c.CredentialStatus = d.status(blk)
		case "credentialSchema":
			d.once(&seen, 8)
			d.schema(&blk.schema)
			c.CredentialSchema = &blk.schema
		case "iss":
			d.once(&seen, 9)
			c.Iss = d.str()
		case "sub":
			d.once(&seen, 10)
			c.Sub = d.str()
		case "jti":
			d.once(&seen, 11)
			c.Jti = d.str()
		case "iat":
			d.once(&seen, 12)
			c.Iat = d.int64()
		case "exp":
			d.once(&seen, 13)
			c.Exp = d.int64()
		case "nbf":
			d.once(&seen, 14)
			c.Nbf = d.int64()
		default:
			d.bad = true
		}
	}
	if !d.end() {
		return nil, false
	}
	return c, true
}

func (d *fastDec) subject(s *Subject, blk *credentialBlock) {
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "id":
			d.once(&seen, 0)
			s.ID = d.str()
		case "scopes":
			d.once(&seen, 1)
			s.Scopes = d.strings()
		case "audiences":
			d.once(&seen, 2)
			s.Audiences = d.strings()
		case "owner":
			d.once(&seen, 3)
			s.Owner = d.str()
		case "purpose":
			d.once(&seen, 4)
			s.Purpose = d.str()
		case "delegatedBy":
			d.once(&seen, 5)
			s.DelegatedBy = d.str()
		case "onBehalfOf":
			d.once(&seen, 6)
			s.OnBehalfOf = d.str()
		case "constraints":
			d.once(&seen, 7)
			d.constraints(&blk.cons, blk)
			s.Constraints = &blk.cons
		case "delegation":
			d.once(&seen, 8)
			s.Delegation = d.delegation(blk)
		case "task":
			d.once(&seen, 9)
			s.Task = d.str()
		default:
			d.bad = true
		}
	}
}

func (d *fastDec) constraints(c *Constraints, blk *credentialBlock) {
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "sourceNetworks":
			d.once(&seen, 0)
			c.SourceNetworks = d.strings()
		case "rateLimit":
			d.once(&seen, 1)
			c.RateLimit = d.str()
		case "timeWindow":
			d.once(&seen, 2)
			d.timeWindow(&blk.tw)
			c.TimeWindow = &blk.tw
		default:
			d.bad = true
		}
	}
}

func (d *fastDec) timeWindow(w *TimeWindow) {
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "start":
			d.once(&seen, 0)
			w.Start = d.str()
		case "end":
			d.once(&seen, 1)
			w.End = d.str()
		case "tz":
			d.once(&seen, 2)
			w.TZ = d.str()
		default:
			d.bad = true
		}
	}
}

// status and envelopes (below) are near-copies on purpose: a generic version
// taking the element decoder as a method value costs two allocations more
// per decode (TestFastDecodeAllocs).
func (d *fastDec) status(blk *credentialBlock) []StatusEntry {
	var buf [4]StatusEntry
	tmp := buf[:0]
	for more := d.begin('[', ']'); more; more = d.more(']') {
		var e StatusEntry
		d.statusEntry(&e)
		tmp = append(tmp, e)
	}
	if d.bad {
		return nil
	}
	n := len(tmp)
	if n == 0 {
		return []StatusEntry{}
	}
	var out []StatusEntry
	if n <= len(blk.status) {
		out = blk.status[:n:n]
	} else {
		out = make([]StatusEntry, n)
	}
	copy(out, tmp)
	return out
}

// delegation reads a delegation chain (a near-copy of status, for the
// same reason).
func (d *fastDec) delegation(blk *credentialBlock) []DelegationLink {
	var buf [8]DelegationLink
	tmp := buf[:0]
	for more := d.begin('[', ']'); more; more = d.more(']') {
		var l DelegationLink
		var seen uint32
		for more := d.begin('{', '}'); more; more = d.more('}') {
			switch d.key() {
			case "credential":
				d.once(&seen, 0)
				l.Credential = d.str()
			case "holder":
				d.once(&seen, 1)
				l.Holder = d.str()
			default:
				d.bad = true
			}
		}
		tmp = append(tmp, l)
	}
	if d.bad {
		return nil
	}
	n := len(tmp)
	if n == 0 {
		return []DelegationLink{}
	}
	var out []DelegationLink
	if n <= len(blk.links) {
		out = blk.links[:n:n]
	} else {
		out = make([]DelegationLink, n)
	}
	copy(out, tmp)
	return out
}

func (d *fastDec) statusEntry(e *StatusEntry) {
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "id":
			d.once(&seen, 0)
			e.ID = d.str()
		case "type":
			d.once(&seen, 1)
			e.Type = d.str()
		case "statusPurpose":
			d.once(&seen, 2)
			e.StatusPurpose = d.str()
		case "statusListIndex":
			d.once(&seen, 3)
			e.StatusListIndex = d.str()
		case "statusListCredential":
			d.once(&seen, 4)
			e.StatusListCredential = d.str()
		default:
			d.bad = true
		}
	}
}

func (d *fastDec) schema(s *Schema) {
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "id":
			d.once(&seen, 0)
			s.ID = d.str()
		case "type":
			d.once(&seen, 1)
			s.Type = d.str()
		default:
			d.bad = true
		}
	}
}

// fastDecodePresentation decodes a presentation payload in the simple form,
// or reports false: then the caller must use encoding/json.
func fastDecodePresentation(b []byte) (*Presentation, bool) {
	blk := new(presentationBlock)
	d := fastDec{b: b, s: string(b), strs: blk.strs[:]}
	p := &blk.p
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "@context":
			d.once(&seen, 0)
			p.Context = d.strings()
		case "id":
			d.once(&seen, 1)
			p.ID = d.str()
		case "type":
			d.once(&seen, 2)
			p.Type = d.strings()
		case "holder":
			d.once(&seen, 3)
			p.Holder = d.str()
		case "verifiableCredential":
			d.once(&seen, 4)
			p.VerifiableCredential = d.envelopes(blk)
		case "iss":
			d.once(&seen, 5)
			p.Iss = d.str()
		case "aud":
			d.once(&seen, 6)
			if d.peek() == '[' {
				p.Aud = Audience(d.strings())
			} else {
				p.Aud = Audience(d.strings1())
			}
		case "iat":
			d.once(&seen, 7)
			p.Iat = d.int64()
		case "exp":
			d.once(&seen, 8)
			p.Exp = d.int64()
		case "nbf":
			d.once(&seen, 9)
			p.Nbf = d.int64()
		case "jti":
			d.once(&seen, 10)
			p.Jti = d.str()
		case "nonce":
			d.once(&seen, 11)
			p.Nonce = d.str()
		case "htm":
			d.once(&seen, 12)
			p.Htm = d.str()
		case "htu":
			d.once(&seen, 13)
			p.Htu = d.str()
		case "htd":
			d.once(&seen, 14)
			p.Htd = d.str()
		case "for":
			d.once(&seen, 15)
			p.For = d.str()
		default:
			d.bad = true
		}
	}
	if !d.end() {
		return nil, false
	}
	return p, true
}

// strings1 reads one string as a one-element slice (the string form of
// Audience).
func (d *fastDec) strings1() []string {
	s := d.str()
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

func (d *fastDec) envelopes(blk *presentationBlock) []Enveloped {
	var buf [4]Enveloped
	tmp := buf[:0]
	for more := d.begin('[', ']'); more; more = d.more(']') {
		var e Enveloped
		d.envelope(&e)
		tmp = append(tmp, e)
	}
	if d.bad {
		return nil
	}
	n := len(tmp)
	if n == 0 {
		return []Enveloped{}
	}
	var out []Enveloped
	if n <= len(blk.env) {
		out = blk.env[:n:n]
	} else {
		out = make([]Enveloped, n)
	}
	copy(out, tmp)
	return out
}

func (d *fastDec) envelope(e *Enveloped) {
	var seen uint32
	for more := d.begin('{', '}'); more; more = d.more('}') {
		switch d.key() {
		case "@context":
			d.once(&seen, 0)
			e.Context = d.strings()
		case "type":
			d.once(&seen, 1)
			e.Type = d.str()
		case "id":
			d.once(&seen, 2)
			e.ID = d.str()
		default:
			d.bad = true
		}
	}
}
