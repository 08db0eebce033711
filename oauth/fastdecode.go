package oauth

import (
	"strings"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/jsonscan"
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

// fastDec adds the token types to the shared strict scanner (the one
// vc's fast path uses).
type fastDec struct {
	jsonscan.Scanner
}

// fastDecodeAccessToken decodes access token claims in the simple form.
func fastDecodeAccessToken(b []byte) (*AccessToken, bool) {
	var d fastDec
	d.Reset(b, nil)
	at := new(AccessToken)
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
				at.Audience = vc.Audience{d.Str()}
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
			at.Confirmation = new(Confirmation)
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
			at.CredentialStatus = []vc.StatusEntry{}
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
				at.CredentialStatus = append(at.CredentialStatus, e)
			}
		case "credential_issuer":
			d.Once(&seen, 11)
			at.CredentialIssuer = d.Str()
		case "act":
			d.Once(&seen, 12)
			at.Act = d.actor(0)
		case "delegation":
			d.Once(&seen, 13)
			at.Delegation = []vc.DelegationLink{}
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
				at.Delegation = append(at.Delegation, l)
			}
		default:
			d.Fail() // unknown members, other spellings
		}
	}
	if !d.End() {
		return nil, false
	}
	return at, true
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

// fastDecodeProofClaims decodes DPoP proof claims in the simple form.
func fastDecodeProofClaims(b []byte, c *ProofClaims) bool {
	var d fastDec
	d.Reset(b, nil)
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
func fastDecodeProofHeader(b []byte, h *proofHeader) (did.JWK, bool) {
	var d fastDec
	d.Reset(b, nil)
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
	var d fastDec
	d.Reset(hdr, nil)
	var h jws.Header
	var seen uint32
	for more := d.Begin('{', '}'); more && !d.Bad(); more = d.More('}') {
		switch d.Key() {
		case "alg":
			d.Once(&seen, 0)
			h.Alg = d.Str()
		case "typ":
			d.Once(&seen, 1)
			h.Typ = d.Str()
		case "kid":
			d.Once(&seen, 2)
			h.Kid = d.Str()
		default:
			d.Fail()
		}
	}
	if !d.End() {
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
