package jws

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/agentid/agentid/internal/strictjson"
	"github.com/agentid/agentid/reason"
)

// parseReference is Parse as it was before the single buffer and the
// header fast path (encoding/base64, encoding/json): the reference
// FuzzParseDifferential holds Parse to. It is written out here so that it
// stays independent of the code under test.
func parseReference(token string) (*Token, error) {
	if len(token) > MaxSize {
		return nil, malformed(fmt.Sprintf("token is %d bytes, over the %d limit", len(token), MaxSize), nil)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, malformed("not a compact JWS", nil)
	}
	hdr, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, malformed("header is not base64url", err)
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, malformed("payload is not base64url", err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, malformed("signature is not base64url", err)
	}
	var rh rawHeader
	if err := json.Unmarshal(hdr, &rh); err != nil {
		return nil, malformed("header is not a JSON object", err)
	}
	if err := strictjson.Check(hdr, headerNames); err != nil {
		return nil, malformed("header is ambiguous JSON", err)
	}
	if rh.Crit != nil || rh.B64 != nil {
		return nil, malformed("critical header extensions are not supported", nil)
	}
	if rh.JWK != nil || rh.JKU != nil || rh.X5C != nil || rh.X5U != nil {
		return nil, malformed("keys in the header are not accepted", nil)
	}
	switch rh.Alg {
	case AlgEdDSA, AlgEd25519:
		if len(sig) != ed25519.SignatureSize {
			return nil, malformed("EdDSA signature has the wrong length", nil)
		}
	case AlgES256:
		if len(sig) != 64 {
			return nil, malformed("ES256 signature has the wrong length", nil)
		}
	case "":
		return nil, malformed("header has no alg", nil)
	default:
		return nil, reason.New(reason.UnsupportedAlg, fmt.Sprintf("jws: alg %q is not accepted", rh.Alg))
	}
	return &Token{Header: rh.Header, Payload: payload, SigningInput: []byte(token[:len(parts[0])+1+len(parts[1])]), Signature: sig}, nil
}

// sameParse fails t unless Parse and parseReference agree on s: the same
// token, or errors with the same text and reason code.
func sameParse(t *testing.T, s string) {
	t.Helper()
	got, gerr := Parse(s)
	want, werr := parseReference(s)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("Parse(%q): %v; reference: %v", s, gerr, werr)
	}
	if gerr != nil {
		gc, _ := reason.CodeOf(gerr)
		wc, _ := reason.CodeOf(werr)
		if gc != wc || gerr.Error() != werr.Error() {
			t.Fatalf("Parse(%q): %v (%s); reference: %v (%s)", s, gerr, gc, werr, wc)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q) = %+v; reference %+v", s, got, want)
	}
}

var sig64 = b64.EncodeToString(make([]byte, 64))

func token(header, payload string) string {
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload)) + "." + sig64
}

func TestParseAgreesWithReference(t *testing.T) {
	for _, tc := range []struct{ name, token string }{
		{"simple", token(`{"alg":"EdDSA","typ":"vc+jwt","kid":"did:web:i.example#k1"}`, `{"a":1}`)},
		{"alg only", token(`{"alg":"ES256"}`, `{}`)},
		{"empty header", token(`{}`, `{}`)},
		{"whitespace", token(` { "alg" : "Ed25519" } `, `{}`)},
		{"duplicate alg", token(`{"alg":"EdDSA","alg":"EdDSA"}`, `{}`)},
		{"case-folded alg", token(`{"ALG":"EdDSA"}`, `{}`)},
		{"escaped kid", token(`{"alg":"EdDSA","kid":"did:web:i\u002eexample#k"}`, `{}`)},
		{"unknown member", token(`{"alg":"EdDSA","x-foo":1}`, `{}`)},
		{"crit", token(`{"alg":"EdDSA","crit":["b64"]}`, `{}`)},
		{"jwk", token(`{"alg":"EdDSA","jwk":{}}`, `{}`)},
		{"null typ", token(`{"alg":"EdDSA","typ":null}`, `{}`)},
		{"alg none", token(`{"alg":"none"}`, `{}`)},
		{"HS256", token(`{"alg":"HS256"}`, `{}`)},
		{"numeric alg", token(`{"alg":1}`, `{}`)},
		{"trailing data", token(`{"alg":"EdDSA"}x`, `{}`)},
		{"not an object", token(`["alg"]`, `{}`)},
		{"invalid UTF-8", token("{\"alg\":\"EdDSA\",\"kid\":\"\xff\"}", `{}`)},
		{"short signature", b64.EncodeToString([]byte(`{"alg":"EdDSA"}`)) + ".e30.AAAA"},
		{"padding", token(`{"alg":"EdDSA"}`, `{}`) + "=="},
		{"newline in payload", b64.EncodeToString([]byte(`{"alg":"EdDSA"}`)) + ".e3\n0." + sig64},
		{"standard alphabet", strings.Replace(token(`{"alg":"EdDSA","kid":"??>>"}`, `{}`), "_", "/", 1)},
		{"two dots", "a..b"},
		{"four segments", "a.b.c.d"},
		{"empty", ""},
		{"too large", token(`{"alg":"EdDSA"}`, strings.Repeat("x", MaxSize))},
	} {
		t.Run(tc.name, func(t *testing.T) { sameParse(t, tc.token) })
	}
}

// TestParseSlicesAreSeparate checks that appending to one of a Token's
// slices cannot overwrite another part.
func TestParseSlicesAreSeparate(t *testing.T) {
	tok, err := Parse(token(`{"alg":"EdDSA","kid":"did:web:i.example#k1"}`, `{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	input, sig := string(tok.SigningInput), string(tok.Signature)
	_ = append(tok.SigningInput, 'x')
	_ = append(tok.Payload, 'x')
	if string(tok.SigningInput) != input || string(tok.Signature) != sig || tok.Header.Kid != "did:web:i.example#k1" ||
		cap(tok.Payload) != len(tok.Payload) || cap(tok.SigningInput) != len(tok.SigningInput) || cap(tok.Signature) != len(tok.Signature) {
		t.Fatalf("a part changed or reaches past its end: %+v", tok)
	}
}

// TestParseAllocs pins the cost of the common case: the buffer and the
// Token.
func TestParseAllocs(t *testing.T) {
	s := token(`{"alg":"EdDSA","typ":"vp+jwt","kid":"did:key:z6Mk#z6Mk"}`, strings.Repeat(`{"a":"b"}`, 100))
	if n := testing.AllocsPerRun(100, func() {
		if _, err := Parse(s); err != nil {
			t.Fatal(err)
		}
	}); n > 2 {
		t.Fatalf("Parse allocates %v times, want 2", n)
	}
}

// FuzzParseDifferential holds Parse to the reference on any input and on
// any header.
func FuzzParseDifferential(f *testing.F) {
	f.Add(token(`{"alg":"EdDSA","typ":"vc+jwt","kid":"did:web:i.example#k1"}`, `{}`), "")
	f.Add("", `{"alg":"EdDSA","alg":"ES256"}`)
	f.Add("", `{"Alg":"EdDSA"}`)
	f.Add("", `{"alg":"EdDSA","kid":"a\"b"}`)
	f.Add("e30.e30.", `{"alg":"EdDSA","b64":false}`)
	f.Fuzz(func(t *testing.T, s, header string) {
		sameParse(t, s)
		sameParse(t, token(header, `{}`))
		sameParse(t, base64.RawURLEncoding.EncodeToString([]byte(header))+".e30."+b64.EncodeToString(make([]byte, 64)))
	})
}
