package vc

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc/jws"
)

// Signed payloads decode strictly on every path: what encoding/json would
// read one way and another parser another (a duplicate member, a member
// name in another case, bytes that are not UTF-8) is malformed, never
// decoded.
func TestStrictDecoding(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cred, err := EncodeCredential(sampleCredential("did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG", now), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeCredential(cred); err != nil {
		t.Fatalf("the unmodified credential: %v", err)
	}
	pres := []byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiablePresentation"],` +
		`"holder":"did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG","aud":"https://a.example",` +
		`"iat":1795370000,"exp":1795370060,"jti":"j1"}`)
	if _, err := DecodePresentation(pres); err != nil {
		t.Fatalf("the unmodified presentation: %v", err)
	}
	edit := func(b []byte, old, new string) []byte {
		t.Helper()
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%q not in payload", old)
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		decode  func([]byte) error
	}{
		{"credential: duplicate issuer", edit(cred, `"issuer":`, `"issuer":"did:web:evil.example","issuer":`),
			func(b []byte) error { _, err := DecodeCredential(b); return err }},
		{"credential: duplicate nested scopes", edit(cred, `"scopes":`, `"scopes":["admin:all"],"scopes":`),
			func(b []byte) error { _, err := DecodeCredential(b); return err }},
		{"credential: case-folded member", edit(cred, `"validUntil":`, `"VALIDUNTIL":`),
			func(b []byte) error { _, err := DecodeCredential(b); return err }},
		{"credential: not UTF-8", edit(cred, `team-payments`, "team-\xffpayments"),
			func(b []byte) error { _, err := DecodeCredential(b); return err }},
		{"presentation: duplicate holder", edit(pres, `"holder":`, `"holder":"did:key:zOther","holder":`),
			func(b []byte) error { _, err := DecodePresentation(b); return err }},
		{"presentation: case-folded aud", edit(pres, `"aud":`, `"Aud":`),
			func(b []byte) error { _, err := DecodePresentation(b); return err }},
		{"presentation: not UTF-8", edit(pres, `"j1"`, "\"j\xc01\""),
			func(b []byte) error { _, err := DecodePresentation(b); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.payload)
			if c, _ := reason.CodeOf(err); c != reason.Malformed {
				t.Fatalf("err = %v, want malformed", err)
			}
		})
	}
}

// The JWS header too: a duplicate or case-folded alg, typ or kid is
// malformed before any key is looked up.
func TestStrictHeader(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{}`))
	sig := base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	for _, tc := range []struct{ name, header string }{
		{"valid", `{"alg":"EdDSA","typ":"vc+jwt","kid":"did:web:i.example#k"}`},
		{"duplicate kid", `{"alg":"EdDSA","typ":"vc+jwt","kid":"did:web:i.example#k","kid":"did:web:evil.example#k"}`},
		{"duplicate alg", `{"alg":"EdDSA","alg":"ES256","typ":"vc+jwt","kid":"did:web:i.example#k"}`},
		{"case-folded kid", `{"alg":"EdDSA","typ":"vc+jwt","KID":"did:web:i.example#k"}`},
		{"not UTF-8", "{\"alg\":\"EdDSA\",\"typ\":\"vc+jwt\",\"kid\":\"did:web:i.example#\xff\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := base64.RawURLEncoding.EncodeToString([]byte(tc.header)) + "." + payload + "." + sig
			_, err := jws.Parse(tok)
			if tc.name == "valid" {
				if err != nil {
					t.Fatalf("valid header refused: %v", err)
				}
				return
			}
			if c, _ := reason.CodeOf(err); c != reason.Malformed {
				t.Fatalf("err = %v, want malformed", err)
			}
		})
	}
}
