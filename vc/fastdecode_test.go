package vc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agentid/agentid/internal/strictjson"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc/jws"
)

// refDecode is the behaviour before the fast path: decode with
// encoding/json alone (as decodeJSON did), then validate. It is written out
// here so that the reference stays independent of the code under test.
func refDecode[T any, PT interface {
	*T
	Validate() error
}](b []byte) (*T, error) {
	v := PT(new(T))
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, reason.New(reason.Malformed, "vc: payload is not a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, reason.Wrap(reason.Malformed, fmt.Sprintf("vc: member %q has the wrong type", ute.Field), nil)
		}
		return nil, reason.Wrap(reason.Malformed, "vc: payload is not valid JSON", err)
	}
	// Since the strict decoding of signed payloads, JSON that parsers may
	// read two ways is refused after encoding/json accepted it.
	if err := strictjson.Check(b, strictNames(v)); err != nil {
		return nil, reason.Wrap(reason.Malformed, "vc: payload is ambiguous JSON", err)
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return (*T)(v), nil
}

func strictNames(v any) *strictjson.Vocab {
	if _, ok := v.(*Presentation); ok {
		return presentationNames
	}
	return credentialNames
}

// sameResult fails t unless both decodes gave DeepEqual values or errors
// with the same code and text.
func sameResult[T any](t *testing.T, b []byte, got *T, gotErr error, want *T, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("input %q:\n got err %v\nwant err %v", b, gotErr, wantErr)
	}
	if gotErr != nil {
		gc, _ := reason.CodeOf(gotErr)
		wc, _ := reason.CodeOf(wantErr)
		if gc != wc || gotErr.Error() != wantErr.Error() {
			t.Fatalf("input %q:\n got err %v (%s)\nwant err %v (%s)", b, gotErr, gc, wantErr, wc)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("input %q:\n got %+v\nwant %+v", b, got, want)
	}
}

// checkFast is the differential property for one type: if the fast decoder
// accepts b, encoding/json accepts it too and decodes the same value.
func checkFast[T any](t *testing.T, b []byte, fast func([]byte) (*T, bool)) bool {
	t.Helper()
	got, ok := fast(b)
	if !ok {
		return false
	}
	want := new(T)
	if err := json.Unmarshal(b, want); err != nil {
		t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path differs from encoding/json on %q:\n got %+v\nwant %+v", b, got, want)
	}
	return true
}

func checkCredential(t *testing.T, b []byte) bool {
	t.Helper()
	c, err := DecodeCredential(b)
	wc, werr := refDecode[Credential](b)
	sameResult(t, b, c, err, wc, werr)
	return checkFast(t, b, fastDecodeCredential)
}

func checkPresentation(t *testing.T, b []byte) bool {
	t.Helper()
	p, err := DecodePresentation(b)
	wp, werr := refDecode[Presentation](b)
	sameResult(t, b, p, err, wp, werr)
	return checkFast(t, b, func(b []byte) (*Presentation, bool) { return fastDecodePresentation(string(b)) })
}

// realisticPayloads returns payloads as agentid signs them.
func realisticPayloads(t testing.TB) (creds, pres [][]byte) {
	f := newFixture(t, newEd25519(t))
	payload := func(tok string) []byte {
		p, err := jws.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		return p.Payload
	}
	creds = append(creds, payload(f.credToken))
	pres = append(pres, payload(f.presToken))
	variants := []func(c *Credential){
		func(c *Credential) { c.CredentialSubject.Constraints = nil },
		func(c *Credential) { c.CredentialSubject.Constraints.TimeWindow = nil },
		func(c *Credential) { c.CredentialSubject.Constraints.TimeWindow.TZ = "" },
		func(c *Credential) { c.CredentialStatus, c.CredentialSchema = nil, nil },
		func(c *Credential) { c.ValidFrom, c.ValidUntil = nil, nil },
		func(c *Credential) { c.ID = "" },
		func(c *Credential) {
			c.CredentialSubject.Scopes = nil
			c.CredentialSubject.Audiences = nil
			c.CredentialSubject.Owner, c.CredentialSubject.Purpose = "", ""
			c.CredentialSubject.DelegatedBy, c.CredentialSubject.OnBehalfOf = "", ""
		},
		func(c *Credential) {
			from := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("", 5*3600+1800))
			until := from.Add(time.Hour)
			c.ValidFrom, c.ValidUntil = &from, &until
		},
		func(c *Credential) {
			for i := range 6 {
				c.CredentialStatus = append(c.CredentialStatus, StatusEntry{Type: "BitstringStatusListEntry", StatusPurpose: "message", StatusListIndex: fmt.Sprint(i), StatusListCredential: "https://issuer.example.com/status/m"})
			}
			for i := range 20 {
				c.CredentialSubject.Scopes = append(c.CredentialSubject.Scopes, fmt.Sprintf("s%d:read", i))
			}
		},
	}
	for _, v := range variants {
		c := sampleCredential(f.agentDID, f.now)
		v(c)
		tok, err := SignCredential(f.issuer, c, f.now)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, payload(tok))
	}
	presVariants := []func(p *Presentation){
		func(p *Presentation) { p.Aud = Audience{"https://a.example", "https://b.example"} },
		func(p *Presentation) { p.VerifiableCredential = nil; p.Aud = nil; p.Htm, p.Htu = "", "" },
		func(p *Presentation) {
			p.VerifiableCredential = append(p.VerifiableCredential, p.VerifiableCredential[0], p.VerifiableCredential[0], p.VerifiableCredential[0], p.VerifiableCredential[0])
			p.Nonce, p.ID, p.Nbf = "n-123", "urn:uuid:p", p.Iat
		},
	}
	for _, v := range presVariants {
		p := *f.presPayload
		p.VerifiableCredential = append([]Enveloped(nil), p.VerifiableCredential...)
		v(&p)
		tok, err := SignPresentation(f.agent, &p)
		if err != nil {
			t.Fatal(err)
		}
		pres = append(pres, payload(tok))
	}
	return creds, pres
}

func TestFastDecodeRealistic(t *testing.T) {
	creds, pres := realisticPayloads(t)
	for i, b := range creds {
		if !checkCredential(t, b) {
			t.Errorf("credential %d did not take the fast path: %s", i, b)
		}
		if _, err := DecodeCredential(b); err != nil {
			t.Errorf("credential %d: %v", i, err)
		}
	}
	for i, b := range pres {
		if !checkPresentation(t, b) {
			t.Errorf("presentation %d did not take the fast path: %s", i, b)
		}
		if _, err := DecodePresentation(b); err != nil {
			t.Errorf("presentation %d: %v", i, err)
		}
	}
}

// TestFastDecodeAllocs shows that the exported decoders use the fast path:
// encoding/json needs dozens of allocations for these payloads.
func TestFastDecodeAllocs(t *testing.T) {
	creds, pres := realisticPayloads(t)
	if n := testing.AllocsPerRun(50, func() { _, _ = DecodeCredential(creds[0]) }); n > 2 {
		t.Errorf("DecodeCredential: %v allocations, want <= 2", n)
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = DecodePresentation(pres[0]) }); n > 2 {
		t.Errorf("DecodePresentation: %v allocations, want <= 2", n)
	}
}

const (
	credBase = `{"@context":["https://www.w3.org/ns/credentials/v2","https://agentid.dev/contexts/v1"],` +
		`"id":"urn:uuid:1","type":["VerifiableCredential","AgentCredential"],"issuer":"did:web:issuer.example.com",` +
		`"validFrom":"2026-11-22T18:00:00Z","validUntil":"2026-11-22T18:15:00Z",` +
		`"credentialSubject":{"id":"did:key:z6Mk","scopes":["calendar:read"],"constraints":{"sourceNetworks":["10.0.0.0/8"],"rateLimit":"600/m","timeWindow":{"start":"08:00","end":"18:00","tz":"UTC"}}},` +
		`"credentialStatus":[{"id":"s#1","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"1","statusListCredential":"s"}],` +
		`"credentialSchema":{"id":"https://x/s.json","type":"JsonSchema"},` +
		`"iss":"did:web:issuer.example.com","sub":"did:key:z6Mk","jti":"urn:uuid:1","iat":1795370400,"exp":1795371300}`
	presBase = `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiablePresentation"],"holder":"did:key:z6Mk",` +
		`"verifiableCredential":[{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"}],` +
		`"iss":"did:key:z6Mk","aud":"https://calendar.example.com","iat":1795370400,"exp":1795370460,"jti":"j1","htm":"GET","htu":"https://calendar.example.com/v1/events"}`
)

// rep replaces the first occurrence of old in s, and fails loudly if old is
// absent so that a table entry cannot silently test the base payload.
func rep(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("rep: " + old + " not in payload")
	}
	return strings.Replace(s, old, new, 1)
}

// spaceOut puts JSON whitespace around every structural character outside
// strings (s has no escapes).
func spaceOut(s string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			in = !in
		}
		if !in && strings.IndexByte("{}[],:", c) >= 0 {
			b.WriteString(" \r\n")
			b.WriteByte(c)
			b.WriteString("\t ")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func TestFastDecodeVariants(t *testing.T) {
	type tc struct {
		name string
		in   string
		fast bool // whether the fast path must accept it
	}
	spaced := spaceOut(credBase)
	creds := []tc{
		{"base", credBase, true},
		{"whitespace", " \n" + spaced + "\t\r\n ", true},
		{"shuffled", `{"exp":1795371300,"iat":1795370400,"jti":"urn:uuid:1","sub":"did:key:z6Mk","iss":"did:web:issuer.example.com",` +
			`"credentialSchema":{"type":"JsonSchema","id":"https://x/s.json"},"credentialSubject":{"constraints":{"timeWindow":{"tz":"UTC","end":"18:00","start":"08:00"},"rateLimit":"600/m","sourceNetworks":["10.0.0.0/8"]},"scopes":["calendar:read"],"id":"did:key:z6Mk"},` +
			`"validUntil":"2026-11-22T18:15:00Z","validFrom":"2026-11-22T18:00:00Z","issuer":"did:web:issuer.example.com","type":["VerifiableCredential","AgentCredential"],"id":"urn:uuid:1",` +
			`"@context":["https://www.w3.org/ns/credentials/v2","https://agentid.dev/contexts/v1"]}`, true},
		{"minimal", `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","AgentCredential"],"issuer":"did:web:a","credentialSubject":{"id":"did:key:z"}}`, true},
		{"no constraints", rep(credBase, `,"constraints":{"sourceNetworks":["10.0.0.0/8"],"rateLimit":"600/m","timeWindow":{"start":"08:00","end":"18:00","tz":"UTC"}}`, ``), true},
		{"empty constraints", rep(credBase, `{"sourceNetworks":["10.0.0.0/8"],"rateLimit":"600/m","timeWindow":{"start":"08:00","end":"18:00","tz":"UTC"}}`, `{}`), true},
		{"empty arrays", rep(rep(credBase, `"scopes":["calendar:read"]`, `"scopes":[]`), `"credentialStatus":[{"id":"s#1","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"1","statusListCredential":"s"}]`, `"credentialStatus":[ ]`), true},
		{"empty object", `{}`, true},
		{"empty object spaced", " {\n} ", true},
		{"time offset", rep(rep(credBase, `"2026-11-22T18:00:00Z"`, `"2026-11-22T19:00:00.5+01:00"`), `"2026-11-22T18:15:00Z"`, `"2026-11-22T23:45:00+05:30"`), true},
		{"negative and zero ints", rep(credBase, `"iat":1795370400`, `"iat":-12,"nbf":0`), true},
		{"minus zero", rep(credBase, `"iat":1795370400`, `"iat":-0`), true},
		{"DEL byte", rep(credBase, `"tz":"UTC"`, "\"tz\":\"U\x7fC\""), true},
		{"exp disagrees", rep(credBase, `"exp":1795371300`, `"exp":1795371301`), true},
		{"no AgentCredential", rep(credBase, `,"AgentCredential"`, ``), true},
		{"delegation chain and task", rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"delegation":[{"credential":"urn:uuid:2","holder":"did:key:z1"},{"holder":"did:key:z2","credential":"urn:uuid:3"}],"task":"job-7"`), true},
		{"long delegation chain", rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"delegation":[`+strings.Repeat(`{"credential":"c","holder":"h"},`, 9)+`{"credential":"c","holder":"h"}]`), true},
		{"empty delegation", rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"delegation":[]`), true},
		{"delegation link with unknown key", rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"delegation":[{"credential":"c","holder":"h","x":1}]`), false},
		{"delegation link duplicate key", rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"delegation":[{"credential":"c","credential":"d","holder":"h"}]`), false},
		{"delegation null", rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"delegation":null`), false},
		{"approval object", rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"approval":{"id":"urn:uuid:9","approver":"did:key:a","at":"2026-11-22T18:00:00Z","reason":"ok"}`), false},

		{"issuer object", rep(credBase, `"issuer":"did:web:issuer.example.com"`, `"issuer":{"id":"did:web:issuer.example.com","name":"Issuer"}`), false},
		{"issuer object bad id", rep(credBase, `"issuer":"did:web:issuer.example.com"`, `"issuer":{"id":1}`), false},
		{"escape", rep(credBase, `"tz":"UTC"`, `"tz":"U\"TC\n"`), false},
		{"escaped slash", rep(credBase, `"10.0.0.0/8"`, `"10.0.0.0\/8"`), false},
		{"escaped unicode in id", rep(credBase, `"did:key:z6Mk","scopes"`, `"did:key:z6M\u006b","scopes"`), false},
		{"unicode", rep(credBase, `"rateLimit":"600/m"`, `"rateLimit":"600/m","tz":"Europe/Zürich"`), false},
		{"unicode value", rep(credBase, `"tz":"UTC"`, `"tz":"Zürich"`), false},
		{"invalid utf8", rep(credBase, `"tz":"UTC"`, "\"tz\":\"U\xffC\""), false},
		{"control char", rep(credBase, `"tz":"UTC"`, "\"tz\":\"U\tC\""), false},
		{"case-variant key", rep(credBase, `"issuer":`, `"Issuer":`), false},
		{"case-variant nested key", rep(credBase, `"rateLimit":`, `"RATELIMIT":`), false},
		{"kelvin sign key", rep(credBase, `"jti":`, "\"j\u212ai\":"), false},
		{"unknown key", rep(credBase, `"iat":`, `"extra":{"a":[1,2,{"b":null}]},"iat":`), false},
		{"duplicate key", rep(credBase, `"iat":1795370400`, `"iat":1,"iat":1795370400`), false},
		{"duplicate nested key", rep(credBase, `"start":"08:00"`, `"start":"07:00","start":"08:00"`), false},
		{"duplicate case-variant key", rep(credBase, `"iat":1795370400`, `"iat":1795370400,"IAT":5`), false},
		{"null time", rep(credBase, `"validFrom":"2026-11-22T18:00:00Z"`, `"validFrom":null`), false},
		{"null constraints", rep(credBase, `{"sourceNetworks":["10.0.0.0/8"],"rateLimit":"600/m","timeWindow":{"start":"08:00","end":"18:00","tz":"UTC"}}`, `null`), false},
		{"null context", rep(credBase, `["https://www.w3.org/ns/credentials/v2","https://agentid.dev/contexts/v1"]`, `null`), false},
		{"null in array", rep(credBase, `["calendar:read"]`, `["calendar:read",null]`), false},
		{"null string", rep(credBase, `"rateLimit":"600/m"`, `"rateLimit":null`), false},
		{"null iat", rep(credBase, `"iat":1795370400`, `"iat":null`), false},
		{"null issuer", rep(credBase, `"issuer":"did:web:issuer.example.com"`, `"issuer":null`), false},
		{"bool", rep(credBase, `"rateLimit":"600/m"`, `"rateLimit":true`), false},
		{"float", rep(credBase, `"iat":1795370400`, `"iat":1795370400.0`), false},
		{"exponent", rep(credBase, `"iat":1795370400`, `"iat":1e3`), false},
		{"huge int", rep(credBase, `"iat":1795370400`, `"iat":99999999999999999999`), false},
		{"19 digits", rep(credBase, `"iat":1795370400`, `"iat":1000000000000000000`), false},
		{"leading zero", rep(credBase, `"iat":1795370400`, `"iat":01`), false},
		{"plus sign", rep(credBase, `"iat":1795370400`, `"iat":+1`), false},
		{"int as string", rep(credBase, `"iat":1795370400`, `"iat":"1795370400"`), false},
		{"string as int", rep(credBase, `"id":"urn:uuid:1"`, `"id":1`), false},
		{"scopes not array", rep(credBase, `["calendar:read"]`, `"calendar:read"`), false},
		{"bad time", rep(credBase, `"2026-11-22T18:00:00Z"`, `"2026-13-22T18:00:00Z"`), false},
		{"time not string", rep(credBase, `"2026-11-22T18:00:00Z"`, `1795370400`), false},
		{"trailing garbage", credBase + "x", false},
		{"trailing object", credBase + "{}", false},
		{"trailing comma", rep(credBase, `"exp":1795371300}`, `"exp":1795371300,}`), false},
		{"array trailing comma", rep(credBase, `["calendar:read"]`, `["calendar:read",]`), false},
		{"missing colon", rep(credBase, `"iat":`, `"iat" `), false},
		{"unterminated", credBase[:len(credBase)-1], false},
		{"unterminated string", `{"id":"abc`, false},
		{"vertical tab around", "\v" + credBase + "\f", false},
		{"not an object", `["a"]`, false},
		{"string", `"a"`, false},
		{"empty", ``, false},
		{"spaces", "  ", false},
		{"deep unknown", rep(credBase, `"iat":`, `"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`,"iat":`), false},
	}
	pres := []tc{
		{"base", presBase, true},
		{"aud array", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":["https://calendar.example.com","https://b"]`), true},
		{"aud empty array", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":[]`), true},
		{"aud empty string", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":""`), true},
		{"no credentials", rep(presBase, `"verifiableCredential":[{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"}],`, ``), true},
		{"empty credentials", rep(presBase, `[{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"}]`, `[]`), true},
		{"envelope without context", rep(presBase, `{"@context":["https://www.w3.org/ns/credentials/v2"],"type"`, `{"type"`), true},
		{"bad envelope", rep(presBase, `data:application/vc+jwt,a.b.c`, `data:text/plain,x`), true},
		{"nonce nbf id", rep(presBase, `"jti":"j1"`, `"jti":"j1","nonce":"n","nbf":5,"id":"urn:p"`), true},
		{"whitespace", spaceOut(presBase), true},

		{"aud number", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":1`), false},
		{"aud null", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":null`), false},
		{"aud array with null", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":["a",null]`), false},
		{"aud nested array", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":[["a"]]`), false},
		{"aud escaped", rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":"https:\/\/calendar.example.com"`), false},
		{"envelope object", rep(presBase, `[{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"}]`, `{"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"}`), false},
		{"envelope unknown key", rep(presBase, `"type":"EnvelopedVerifiableCredential"`, `"type":"EnvelopedVerifiableCredential","name":"x"`), false},
		{"envelope duplicate", rep(presBase, `"type":"EnvelopedVerifiableCredential"`, `"type":"x","type":"EnvelopedVerifiableCredential"`), false},
		{"case-variant holder", rep(presBase, `"holder"`, `"Holder"`), false},
		{"duplicate aud", rep(presBase, `"jti":"j1"`, `"jti":"j1","aud":"x"`), false},
		{"float exp", rep(presBase, `"exp":1795370460`, `"exp":1795370460.5`), false},
		{"trailing", presBase + " ]", false},
		{"holder differs", rep(presBase, `"holder":"did:key:z6Mk"`, `"holder":"did:key:other"`), true},
	}
	for _, c := range creds {
		t.Run("credential/"+c.name, func(t *testing.T) {
			if got := checkCredential(t, []byte(c.in)); got != c.fast {
				t.Fatalf("fast path taken: %v, want %v", got, c.fast)
			}
		})
	}
	for _, c := range pres {
		t.Run("presentation/"+c.name, func(t *testing.T) {
			if got := checkPresentation(t, []byte(c.in)); got != c.fast {
				t.Fatalf("fast path taken: %v, want %v", got, c.fast)
			}
		})
	}
}

// FuzzFastDecodeDifferential checks both fast decoders against
// encoding/json on every input: if a fast decoder accepts, encoding/json
// must accept and decode a DeepEqual value, and DecodeCredential and
// DecodePresentation must behave exactly as before (value or error text).
// Inputs that encoding/json accepts are also re-marshalled and checked, so
// that the fuzzer exercises the fast path on canonical forms as well.
func FuzzFastDecodeDifferential(f *testing.F) {
	creds, pres := realisticPayloads(f)
	for _, b := range append(creds, pres...) {
		f.Add(b)
	}
	f.Add([]byte(credBase))
	f.Add([]byte(presBase))
	f.Add([]byte(rep(presBase, `"aud":"https://calendar.example.com"`, `"aud":["a","b"]`)))
	f.Add([]byte(rep(credBase, `"issuer":"did:web:issuer.example.com"`, `"issuer":{"id":"did:web:issuer.example.com","name":"I"}`)))
	f.Add([]byte(rep(credBase, `"iat":1795370400`, `"iat":1,"IAT":2`)))
	f.Add([]byte(rep(credBase, `"2026-11-22T18:00:00Z"`, `"2026-11-22T19:00:00.5+01:00"`)))
	f.Add([]byte(rep(credBase, `"scopes":["calendar:read"]`, `"scopes":["calendar:read"],"delegation":[{"credential":"urn:uuid:2","holder":"did:key:z1"}],"task":"t"`)))
	f.Add([]byte(`{"iat":-0,"exp":0,"nbf":-9}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkCredential(t, b)
		checkPresentation(t, b)
		var c Credential
		if json.Unmarshal(b, &c) == nil {
			if m, err := json.Marshal(&c); err == nil {
				checkCredential(t, m)
			}
		}
		var p Presentation
		if json.Unmarshal(b, &p) == nil {
			if m, err := json.Marshal(&p); err == nil {
				checkPresentation(t, m)
			}
		}
	})
}

// BenchmarkDecode compares the fast decoders with encoding/json.
func BenchmarkDecode(b *testing.B) {
	creds, pres := realisticPayloads(b)
	b.Run("credential/fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeCredential(creds[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("credential/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := refDecode[Credential](creds[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("presentation/fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodePresentation(pres[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("presentation/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := refDecode[Presentation](pres[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
