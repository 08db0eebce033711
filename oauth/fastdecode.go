package oauth

import (
	"strings"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
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

type fastDec struct {
	b   []byte
	s   string
	i   int
	bad bool
}

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

func (d *fastDec) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *fastDec) str() string {
	if d.bad || d.peek() != '"' {
		d.bad = true
		return ""
	}
	start := d.i + 1
	i := start
	for i < len(d.b) {
		c := d.b[i]
		if c == '"' {
			d.i = i + 1
			return d.s[start:i]
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			break
		}
		i++
	}
	d.bad = true
	return ""
}

func (d *fastDec) key() string {
	k := d.str()
	if d.peek() != ':' {
		d.bad = true
		return ""
	}
	d.i++
	return k
}

func (d *fastDec) once(seen *uint32, n uint) {
	if *seen&(1<<n) != 0 {
		d.bad = true
	}
	*seen |= 1 << n
}

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

func (d *fastDec) end() bool {
	if d.bad {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

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

func (d *fastDec) strings() []string {
	out := []string{}
	for more := d.begin('[', ']'); more; more = d.more(']') {
		out = append(out, d.str())
	}
	return out
}

// fastDecodeAccessToken decodes access token claims in the simple form.
func fastDecodeAccessToken(b []byte) (*AccessToken, bool) {
	d := fastDec{b: b, s: string(b)}
	at := new(AccessToken)
	var seen uint32
	for more := d.begin('{', '}'); more && !d.bad; more = d.more('}') {
		switch d.key() {
		case "iss":
			d.once(&seen, 0)
			at.Issuer = d.str()
		case "sub":
			d.once(&seen, 1)
			at.Subject = d.str()
		case "client_id":
			d.once(&seen, 2)
			at.ClientID = d.str()
		case "aud":
			d.once(&seen, 3)
			if d.peek() == '[' {
				at.Audience = vc.Audience(d.strings())
			} else {
				at.Audience = vc.Audience{d.str()}
			}
		case "scope":
			d.once(&seen, 4)
			at.Scope = d.str()
		case "jti":
			d.once(&seen, 5)
			at.JTI = d.str()
		case "iat":
			d.once(&seen, 6)
			at.IssuedAt = d.int64()
		case "exp":
			d.once(&seen, 7)
			at.Expiry = d.int64()
		case "cnf":
			d.once(&seen, 8)
			at.Confirmation = new(Confirmation)
			var cs uint32
			for m := d.begin('{', '}'); m && !d.bad; m = d.more('}') {
				if d.key() != "jkt" {
					d.bad = true
				}
				d.once(&cs, 0)
				at.Confirmation.JKT = d.str()
			}
		case "credential_id":
			d.once(&seen, 9)
			at.CredentialID = d.str()
		case "credential_status":
			d.once(&seen, 10)
			at.CredentialStatus = []vc.StatusEntry{}
			for m := d.begin('[', ']'); m && !d.bad; m = d.more(']') {
				var e vc.StatusEntry
				var es uint32
				for k := d.begin('{', '}'); k && !d.bad; k = d.more('}') {
					switch d.key() {
					case "id":
						d.once(&es, 0)
						e.ID = d.str()
					case "type":
						d.once(&es, 1)
						e.Type = d.str()
					case "statusPurpose":
						d.once(&es, 2)
						e.StatusPurpose = d.str()
					case "statusListIndex":
						d.once(&es, 3)
						e.StatusListIndex = d.str()
					case "statusListCredential":
						d.once(&es, 4)
						e.StatusListCredential = d.str()
					default:
						d.bad = true
					}
				}
				at.CredentialStatus = append(at.CredentialStatus, e)
			}
		case "credential_issuer":
			d.once(&seen, 11)
			at.CredentialIssuer = d.str()
		case "act":
			d.once(&seen, 12)
			at.Act = d.actor(0)
		case "delegation":
			d.once(&seen, 13)
			at.Delegation = []vc.DelegationLink{}
			for m := d.begin('[', ']'); m && !d.bad; m = d.more(']') {
				var l vc.DelegationLink
				var ls uint32
				for k := d.begin('{', '}'); k && !d.bad; k = d.more('}') {
					switch d.key() {
					case "credential":
						d.once(&ls, 0)
						l.Credential = d.str()
					case "holder":
						d.once(&ls, 1)
						l.Holder = d.str()
					default:
						d.bad = true
					}
				}
				at.Delegation = append(at.Delegation, l)
			}
		default:
			d.bad = true // unknown members, other spellings
		}
	}
	if !d.end() {
		return nil, false
	}
	return at, true
}

// actor decodes an act claim (RFC 8693 §4.1) of at most MaxChain nested
// actors, each with sub and, optionally, act.
func (d *fastDec) actor(depth int) *Actor {
	if depth > MaxChain {
		d.bad = true
		return nil
	}
	a := new(Actor)
	var seen uint32
	for m := d.begin('{', '}'); m && !d.bad; m = d.more('}') {
		switch d.key() {
		case "sub":
			d.once(&seen, 0)
			a.Subject = d.str()
		case "act":
			d.once(&seen, 1)
			a.Actor = d.actor(depth + 1)
		default:
			d.bad = true
		}
	}
	return a
}

// fastDecodeProofClaims decodes DPoP proof claims in the simple form.
func fastDecodeProofClaims(b []byte, c *ProofClaims) bool {
	d := fastDec{b: b, s: string(b)}
	var seen uint32
	for more := d.begin('{', '}'); more && !d.bad; more = d.more('}') {
		switch d.key() {
		case "jti":
			d.once(&seen, 0)
			c.Jti = d.str()
		case "htm":
			d.once(&seen, 1)
			c.Htm = d.str()
		case "htu":
			d.once(&seen, 2)
			c.Htu = d.str()
		case "iat":
			d.once(&seen, 3)
			c.Iat = d.int64()
		case "ath":
			d.once(&seen, 4)
			c.Ath = d.str()
		case "nonce":
			d.once(&seen, 5)
			c.Nonce = d.str()
		default:
			d.bad = true
		}
	}
	return d.end()
}

// fastDecodeProofHeader decodes a DPoP proof header of exactly typ, alg
// and a jwk of kty, crv, x and (for EC) y, in the simple form. It fills
// h.Typ, h.Alg and h.JWK (a non-nil marker) and returns the key.
func fastDecodeProofHeader(b []byte, h *proofHeader) (did.JWK, bool) {
	d := fastDec{b: b, s: string(b)}
	var k did.JWK
	var seen uint32
	for more := d.begin('{', '}'); more && !d.bad; more = d.more('}') {
		switch d.key() {
		case "typ":
			d.once(&seen, 0)
			h.Typ = d.str()
		case "alg":
			d.once(&seen, 1)
			h.Alg = d.str()
		case "jwk":
			d.once(&seen, 2)
			var ks uint32
			for m := d.begin('{', '}'); m && !d.bad; m = d.more('}') {
				switch d.key() {
				case "kty":
					d.once(&ks, 0)
					k.Kty = d.str()
				case "crv":
					d.once(&ks, 1)
					k.Crv = d.str()
				case "x":
					d.once(&ks, 2)
					k.X = d.str()
				case "y":
					d.once(&ks, 3)
					k.Y = d.str()
				default:
					d.bad = true // "d" and every other member: the slow path decides
				}
			}
			h.JWK = []byte("{}")
		default:
			d.bad = true
		}
	}
	if !d.end() || seen&(1<<2) == 0 {
		*h = proofHeader{}
		return did.JWK{}, false
	}
	return k, true
}

// parseJWS is jws.Parse for the common case of an access token: a header
// of exactly alg, typ and kid in the simple form, an allowlisted alg and a
// signature of its length. Anything else goes to jws.Parse, which gives
// the result or the error it always does.
func parseJWS(token string) (*jws.Token, error) {
	if len(token) > jws.MaxSize {
		return jws.Parse(token)
	}
	i := strings.IndexByte(token, '.')
	if i <= 0 {
		return jws.Parse(token)
	}
	j := strings.IndexByte(token[i+1:], '.')
	if j <= 0 {
		return jws.Parse(token)
	}
	j += i + 1
	if j == len(token)-1 || strings.IndexByte(token[j+1:], '.') >= 0 {
		return jws.Parse(token)
	}
	dec := b64.Strict()
	hdr, err1 := dec.DecodeString(token[:i])
	payload, err2 := dec.DecodeString(token[i+1 : j])
	sig, err3 := dec.DecodeString(token[j+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return jws.Parse(token)
	}
	d := fastDec{b: hdr, s: string(hdr)}
	var h jws.Header
	var seen uint32
	for more := d.begin('{', '}'); more && !d.bad; more = d.more('}') {
		switch d.key() {
		case "alg":
			d.once(&seen, 0)
			h.Alg = d.str()
		case "typ":
			d.once(&seen, 1)
			h.Typ = d.str()
		case "kid":
			d.once(&seen, 2)
			h.Kid = d.str()
		default:
			d.bad = true
		}
	}
	if !d.end() {
		return jws.Parse(token)
	}
	switch {
	case (h.Alg == jws.AlgEdDSA || h.Alg == jws.AlgEd25519) && len(sig) == 64:
	case h.Alg == jws.AlgES256 && len(sig) == 64:
	default:
		return jws.Parse(token)
	}
	return &jws.Token{Header: h, Payload: payload, SigningInput: []byte(token[:j]), Signature: sig}, nil
}
