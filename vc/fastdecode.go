package vc

import (
	"time"

	"github.com/agentid/agentid/internal/jsonscan"
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

// fastDec adds the credential and presentation types to the shared strict
// scanner.
type fastDec struct {
	jsonscan.Scanner
}

// fastDecodeCredential decodes a credential payload in the simple form, or
// reports false: then the caller must use encoding/json.
func fastDecodeCredential(b []byte) (*Credential, bool) {
	blk := new(credentialBlock)
	var d fastDec
	d.Reset(b, blk.strs[:])
	c := &blk.c
	var seen uint32
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "@context":
			d.Once(&seen, 0)
			c.Context = d.Strings()
		case "id":
			d.Once(&seen, 1)
			c.ID = d.Str()
		case "type":
			d.Once(&seen, 2)
			c.Type = d.Strings()
		case "issuer":
			d.Once(&seen, 3)
			c.Issuer.ID = d.Str() // the object form falls back
		case "validFrom":
			d.Once(&seen, 4)
			d.Time(&blk.from)
			c.ValidFrom = &blk.from
		case "validUntil":
			d.Once(&seen, 5)
			d.Time(&blk.until)
			c.ValidUntil = &blk.until
		case "credentialSubject":
			d.Once(&seen, 6)
			d.subject(&c.CredentialSubject, blk)
		case "credentialStatus":
			d.Once(&seen, 7)
			c.CredentialStatus = d.status(blk)
		case "credentialSchema":
			d.Once(&seen, 8)
			d.schema(&blk.schema)
			c.CredentialSchema = &blk.schema
		case "iss":
			d.Once(&seen, 9)
			c.Iss = d.Str()
		case "sub":
			d.Once(&seen, 10)
			c.Sub = d.Str()
		case "jti":
			d.Once(&seen, 11)
			c.Jti = d.Str()
		case "iat":
			d.Once(&seen, 12)
			c.Iat = d.Int64()
		case "exp":
			d.Once(&seen, 13)
			c.Exp = d.Int64()
		case "nbf":
			d.Once(&seen, 14)
			c.Nbf = d.Int64()
		default:
			d.Fail()
		}
	}
	if !d.End() {
		return nil, false
	}
	return c, true
}

func (d *fastDec) subject(s *Subject, blk *credentialBlock) {
	var seen uint32
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "id":
			d.Once(&seen, 0)
			s.ID = d.Str()
		case "scopes":
			d.Once(&seen, 1)
			s.Scopes = d.Strings()
		case "audiences":
			d.Once(&seen, 2)
			s.Audiences = d.Strings()
		case "owner":
			d.Once(&seen, 3)
			s.Owner = d.Str()
		case "purpose":
			d.Once(&seen, 4)
			s.Purpose = d.Str()
		case "delegatedBy":
			d.Once(&seen, 5)
			s.DelegatedBy = d.Str()
		case "onBehalfOf":
			d.Once(&seen, 6)
			s.OnBehalfOf = d.Str()
		case "constraints":
			d.Once(&seen, 7)
			d.constraints(&blk.cons, blk)
			s.Constraints = &blk.cons
		case "delegation":
			d.Once(&seen, 8)
			s.Delegation = d.delegation(blk)
		case "task":
			d.Once(&seen, 9)
			s.Task = d.Str()
		default:
			d.Fail()
		}
	}
}

func (d *fastDec) constraints(c *Constraints, blk *credentialBlock) {
	var seen uint32
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "sourceNetworks":
			d.Once(&seen, 0)
			c.SourceNetworks = d.Strings()
		case "rateLimit":
			d.Once(&seen, 1)
			c.RateLimit = d.Str()
		case "timeWindow":
			d.Once(&seen, 2)
			d.timeWindow(&blk.tw)
			c.TimeWindow = &blk.tw
		default:
			d.Fail()
		}
	}
}

func (d *fastDec) timeWindow(w *TimeWindow) {
	var seen uint32
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "start":
			d.Once(&seen, 0)
			w.Start = d.Str()
		case "end":
			d.Once(&seen, 1)
			w.End = d.Str()
		case "tz":
			d.Once(&seen, 2)
			w.TZ = d.Str()
		default:
			d.Fail()
		}
	}
}

// status and envelopes (below) are near-copies on purpose: a generic version
// taking the element decoder as a method value costs two allocations more
// per decode (TestFastDecodeAllocs).
func (d *fastDec) status(blk *credentialBlock) []StatusEntry {
	var buf [4]StatusEntry
	tmp := buf[:0]
	for more := d.Begin('[', ']'); more; more = d.More(']') {
		var e StatusEntry
		d.statusEntry(&e)
		tmp = append(tmp, e)
	}
	if d.Bad() {
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
	for more := d.Begin('[', ']'); more; more = d.More(']') {
		var l DelegationLink
		var seen uint32
		for more := d.Begin('{', '}'); more; more = d.More('}') {
			switch d.Key() {
			case "credential":
				d.Once(&seen, 0)
				l.Credential = d.Str()
			case "holder":
				d.Once(&seen, 1)
				l.Holder = d.Str()
			default:
				d.Fail()
			}
		}
		tmp = append(tmp, l)
	}
	if d.Bad() {
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
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "id":
			d.Once(&seen, 0)
			e.ID = d.Str()
		case "type":
			d.Once(&seen, 1)
			e.Type = d.Str()
		case "statusPurpose":
			d.Once(&seen, 2)
			e.StatusPurpose = d.Str()
		case "statusListIndex":
			d.Once(&seen, 3)
			e.StatusListIndex = d.Str()
		case "statusListCredential":
			d.Once(&seen, 4)
			e.StatusListCredential = d.Str()
		default:
			d.Fail()
		}
	}
}

func (d *fastDec) schema(s *Schema) {
	var seen uint32
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "id":
			d.Once(&seen, 0)
			s.ID = d.Str()
		case "type":
			d.Once(&seen, 1)
			s.Type = d.Str()
		default:
			d.Fail()
		}
	}
}

// fastDecodePresentation decodes a presentation payload in the simple form,
// or reports false: then the caller must use encoding/json. Its strings
// are substrings of s.
func fastDecodePresentation(s string) (*Presentation, bool) {
	blk := new(presentationBlock)
	var d fastDec
	d.ResetString(s, blk.strs[:])
	p := &blk.p
	var seen uint32
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "@context":
			d.Once(&seen, 0)
			p.Context = d.Strings()
		case "id":
			d.Once(&seen, 1)
			p.ID = d.Str()
		case "type":
			d.Once(&seen, 2)
			p.Type = d.Strings()
		case "holder":
			d.Once(&seen, 3)
			p.Holder = d.Str()
		case "verifiableCredential":
			d.Once(&seen, 4)
			p.VerifiableCredential = d.envelopes(blk)
		case "iss":
			d.Once(&seen, 5)
			p.Iss = d.Str()
		case "aud":
			d.Once(&seen, 6)
			if d.Peek() == '[' {
				p.Aud = Audience(d.Strings())
			} else {
				p.Aud = Audience(d.Strings1())
			}
		case "iat":
			d.Once(&seen, 7)
			p.Iat = d.Int64()
		case "exp":
			d.Once(&seen, 8)
			p.Exp = d.Int64()
		case "nbf":
			d.Once(&seen, 9)
			p.Nbf = d.Int64()
		case "jti":
			d.Once(&seen, 10)
			p.Jti = d.Str()
		case "nonce":
			d.Once(&seen, 11)
			p.Nonce = d.Str()
		case "htm":
			d.Once(&seen, 12)
			p.Htm = d.Str()
		case "htu":
			d.Once(&seen, 13)
			p.Htu = d.Str()
		case "htd":
			d.Once(&seen, 14)
			p.Htd = d.Str()
		case "for":
			d.Once(&seen, 15)
			p.For = d.Str()
		default:
			d.Fail()
		}
	}
	if !d.End() {
		return nil, false
	}
	return p, true
}

func (d *fastDec) envelopes(blk *presentationBlock) []Enveloped {
	var buf [4]Enveloped
	tmp := buf[:0]
	for more := d.Begin('[', ']'); more; more = d.More(']') {
		var e Enveloped
		d.envelope(&e)
		tmp = append(tmp, e)
	}
	if d.Bad() {
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
	for more := d.Begin('{', '}'); more; more = d.More('}') {
		switch d.Key() {
		case "@context":
			d.Once(&seen, 0)
			e.Context = d.Strings()
		case "type":
			d.Once(&seen, 1)
			e.Type = d.Str()
		case "id":
			d.Once(&seen, 2)
			e.ID = d.Str()
		default:
			d.Fail()
		}
	}
}
