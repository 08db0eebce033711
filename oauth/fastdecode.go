package oauth

import (
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/jsonscan"
	"github.com/agentid/agentid/vc"
)

// A fast path for decoding the claims of access tokens and DPoP proofs, in
// the manner of vc/fastdecode.go: encoding/json's reflection costs a
// resource server about as much as a third signature check. The decoders
// below handle only the simple form agentid writes and answer "can't"
// (false) for anything else, so that the caller falls back to
// json.Unmarshal, which then gives the result or error it always did.
//
// The contract, checked by FuzzFastDecodeDifferential: whenever a fast
// decoder accepts b, json.Unmarshal(b, &v) succeeds and v is
// reflect.DeepEqual to the fast result. So the fast path gives up on any
// string with an escape or a byte outside printable ASCII, any member name
// that is not exactly one of the type's, a member given twice, null, true,
// false, a value of another JSON type than the field's, numbers other than
// -?(0|[1-9][0-9]*) of at most 18 digits, and anything but whitespace
// around the object.

// fastDec adds the token types to the shared strict scanner (the one
// vc's fast path uses).
type fastDec struct {
	jsonscan.Scanner
}

// accessTokenBlock holds an AccessToken and the storage its pointer and
// small slices point into, so that a token costs one allocation (plus the
// payload copy) in the common case.
type accessTokenBlock struct {
	at     AccessToken
	cnf    Confirmation
	aud    [1]string
	status [4]vc.StatusEntry
	links  [4]vc.DelegationLink
}

// fastDecodeAccessToken decodes access token claims in the simple form.
func fastDecodeAccessToken(b []byte) (*AccessToken, bool) {
	var d fastDec
	d.Reset(b, nil)
	blk := new(accessTokenBlock)
	at := &blk.at
	var seen uint32
	for more := d.Begin('{', '}'); more && !d.Bad(); more = d.More('}') {
		switch d.Key() {
		case "iss":
			d.Once(&seen, 0)
			at.Issuer = d.Str()
		case "sub":
			d.Once(&seen, 1)
			at.Subject = d.Str()
		case "client_id":
			d.Once(&seen, 2)
			at.ClientID = d.Str()
		case "aud":
			d.Once(&seen, 3)
			if d.Peek() == '[' {
				at.Audience = vc.Audience(d.Strings())
			} else {
				blk.aud[0] = d.Str()
				at.Audience = blk.aud[:1:1]
			}
		case "scope":
			d.Once(&seen, 4)
			at.Scope = d.Str()
		case "jti":
			d.Once(&seen, 5)
			at.JTI = d.Str()
		case "iat":
			d.Once(&seen, 6)
			at.IssuedAt = d.Int64()
		case "exp":
			d.Once(&seen, 7)
			at.Expiry = d.Int64()
		case "cnf":
			d.Once(&seen, 8)
			at.Confirmation = &blk.cnf
			var cs uint32
			for m := d.Begin('{', '}'); m && !d.Bad(); m = d.More('}') {
				if d.Key() != "jkt" {
					d.Fail()
				}
				d.Once(&cs, 0)
				at.Confirmation.JKT = d.Str()
			}
		case "credential_id":
			d.Once(&seen, 9)
			at.CredentialID = d.Str()
		case "credential_status":
			d.Once(&seen, 10)
			at.CredentialStatus = d.statusEntries(blk.status[:0])
		case "credential_issuer":
			d.Once(&seen, 11)
			at.CredentialIssuer = d.Str()
		case "act":
			d.Once(&seen, 12)
			at.Act = d.actor(0)
		case "delegation":
			d.Once(&seen, 13)
			at.Delegation = d.links(blk.links[:0])
		default:
			d.Fail() // unknown members, other spellings
		}
	}
	if !d.End() {
		return nil, false
	}
	return at, true
}

// statusEntries reads an array of status entries, appending to buf (the
// storage of the token's block) while it has room. An empty array gives an
// empty, non-nil slice, as encoding/json does.
func (d *fastDec) statusEntries(buf []vc.StatusEntry) []vc.StatusEntry {
	out := buf[:0:cap(buf)]
	for m := d.Begin('[', ']'); m && !d.Bad(); m = d.More(']') {
		var e vc.StatusEntry
		var es uint32
		for k := d.Begin('{', '}'); k && !d.Bad(); k = d.More('}') {
			switch d.Key() {
			case "id":
				d.Once(&es, 0)
				e.ID = d.Str()
			case "type":
				d.Once(&es, 1)
				e.Type = d.Str()
			case "statusPurpose":
				d.Once(&es, 2)
				e.StatusPurpose = d.Str()
			case "statusListIndex":
				d.Once(&es, 3)
				e.StatusListIndex = d.Str()
			case "statusListCredential":
				d.Once(&es, 4)
				e.StatusListCredential = d.Str()
			default:
				d.Fail()
			}
		}
		out = append(out, e)
	}
	return out[:len(out):len(out)]
}

// links reads a delegation chain as statusEntries reads status entries.
func (d *fastDec) links(buf []vc.DelegationLink) []vc.DelegationLink {
	out := buf[:0:cap(buf)]
	for m := d.Begin('[', ']'); m && !d.Bad(); m = d.More(']') {
		var l vc.DelegationLink
		var ls uint32
		for k := d.Begin('{', '}'); k && !d.Bad(); k = d.More('}') {
			switch d.Key() {
			case "credential":
				d.Once(&ls, 0)
				l.Credential = d.Str()
			case "holder":
				d.Once(&ls, 1)
				l.Holder = d.Str()
			default:
				d.Fail()
			}
		}
		out = append(out, l)
	}
	return out[:len(out):len(out)]
}

// actor decodes an act claim (RFC 8693 §4.1) of at most MaxChain nested
// actors, each with sub and, optionally, act.
func (d *fastDec) actor(depth int) *Actor {
	if depth > MaxChain {
		d.Fail()
		return nil
	}
	a := new(Actor)
	var seen uint32
	for m := d.Begin('{', '}'); m && !d.Bad(); m = d.More('}') {
		switch d.Key() {
		case "sub":
			d.Once(&seen, 0)
			a.Subject = d.Str()
		case "act":
			d.Once(&seen, 1)
			a.Actor = d.actor(depth + 1)
		default:
			d.Fail()
		}
	}
	return a
}

// fastDecodeProofClaims decodes DPoP proof claims in the simple form. The
// claims' strings are substrings of b.
func fastDecodeProofClaims(b string, c *ProofClaims) bool {
	var d fastDec
	d.ResetString(b, nil)
	var seen uint32
	for more := d.Begin('{', '}'); more && !d.Bad(); more = d.More('}') {
		switch d.Key() {
		case "jti":
			d.Once(&seen, 0)
			c.Jti = d.Str()
		case "htm":
			d.Once(&seen, 1)
			c.Htm = d.Str()
		case "htu":
			d.Once(&seen, 2)
			c.Htu = d.Str()
		case "iat":
			d.Once(&seen, 3)
			c.Iat = d.Int64()
		case "ath":
			d.Once(&seen, 4)
			c.Ath = d.Str()
		case "nonce":
			d.Once(&seen, 5)
			c.Nonce = d.Str()
		default:
			d.Fail()
		}
	}
	return d.End()
}

// fastDecodeProofHeader decodes a DPoP proof header of exactly typ, alg
// and a jwk of kty, crv, x and (for EC) y, in the simple form. It fills
// h.Typ, h.Alg and h.JWK (a non-nil marker) and returns the key.
func fastDecodeProofHeader(b string, h *proofHeader) (did.JWK, bool) {
	var d fastDec
	d.ResetString(b, nil)
	var k did.JWK
	var seen uint32
	for more := d.Begin('{', '}'); more && !d.Bad(); more = d.More('}') {
		switch d.Key() {
		case "typ":
			d.Once(&seen, 0)
			h.Typ = d.Str()
		case "alg":
			d.Once(&seen, 1)
			h.Alg = d.Str()
		case "jwk":
			d.Once(&seen, 2)
			var ks uint32
			for m := d.Begin('{', '}'); m && !d.Bad(); m = d.More('}') {
				switch d.Key() {
				case "kty":
					d.Once(&ks, 0)
					k.Kty = d.Str()
				case "crv":
					d.Once(&ks, 1)
					k.Crv = d.Str()
				case "x":
					d.Once(&ks, 2)
					k.X = d.Str()
				case "y":
					d.Once(&ks, 3)
					k.Y = d.Str()
				default:
					d.Fail() // "d" and every other member: the slow path decides
				}
			}
			h.JWK = []byte("{}")
		default:
			d.Fail()
		}
	}
	if !d.End() || seen&(1<<2) == 0 {
		*h = proofHeader{}
		return did.JWK{}, false
	}
	return k, true
}
