package credcheck

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
)

// wantErr fails t unless err has code want ("" for no error) and, when
// want is set, is a *reason.Error whose detail starts with "vc: " and
// contains text.
func wantErr(t *testing.T, err error, want reason.Code, text string) {
	t.Helper()
	got, _ := reason.CodeOf(err)
	if got != want {
		t.Fatalf("got %v (code %q), want code %q", err, got, want)
	}
	if want == "" {
		return
	}
	var re *reason.Error
	if !errors.As(err, &re) || !strings.HasPrefix(re.Detail, "vc: ") || !strings.Contains(re.Detail, text) {
		t.Fatalf("error %q, want a vc: detail mentioning %q", err, text)
	}
}

func TestHasType(t *testing.T) {
	types := []string{"VerifiableCredential", "AgentCredential"}
	if !HasType(types, "AgentCredential") || HasType(types, "Agent") || HasType(nil, "") {
		t.Fatal("HasType")
	}
}

func TestCheckBase(t *testing.T) {
	const base = "VerifiableCredential"
	for _, tc := range []struct {
		name    string
		context []string
		types   []string
		want    reason.Code
		text    string
	}{
		{"valid", []string{ContextV2, "https://agentid.dev/contexts/v1"}, []string{base, "AgentCredential"}, "", ""},
		{"no context", nil, []string{base}, reason.Malformed, "first @context"},
		{"context not first", []string{"https://example.com", ContextV2}, []string{base}, reason.Malformed, "first @context"},
		{"v1 context", []string{"https://www.w3.org/2018/credentials/v1"}, []string{base}, reason.Malformed, "first @context"},
		{"no type", []string{ContextV2}, nil, reason.Malformed, "type does not include " + base},
		{"other type", []string{ContextV2}, []string{"VerifiablePresentation"}, reason.Malformed, "type does not include " + base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, CheckBase(tc.context, tc.types, base), tc.want, tc.text)
		})
	}
}

func TestCheckClaims(t *testing.T) {
	from := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	until := from.Add(24 * time.Hour)
	const iss, sub, id = "did:web:issuer.example", "did:key:z6Mk", "urn:uuid:1"
	full := Claims{Iss: iss, Sub: sub, Jti: id, Iat: from.Unix(), Exp: until.Unix(), Nbf: from.Unix()}
	with := func(f func(*Claims)) Claims {
		c := full
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name        string
		cl          Claims
		issuer      string
		from, until *time.Time
		want        reason.Code
		text        string
	}{
		{"all claims agree", full, iss, &from, &until, "", ""},
		{"no claims", Claims{}, iss, nil, nil, "", ""},
		{"no claims, window", Claims{}, iss, &from, &until, "", ""},
		{"iat is not checked", Claims{Iat: 1}, iss, nil, nil, "", ""},
		{"no issuer", Claims{}, "", nil, nil, reason.Malformed, "no issuer"},
		{"iss", with(func(c *Claims) { c.Iss = "did:web:other" }), iss, &from, &until, reason.Malformed, "iss claim"},
		{"sub", with(func(c *Claims) { c.Sub = "did:key:other" }), iss, &from, &until, reason.Malformed, "sub claim"},
		{"jti", with(func(c *Claims) { c.Jti = "urn:uuid:2" }), iss, &from, &until, reason.Malformed, "jti claim"},
		{"exp differs", with(func(c *Claims) { c.Exp++ }), iss, &from, &until, reason.Malformed, "exp claim"},
		{"exp without validUntil", full, iss, &from, nil, reason.Malformed, "exp claim"},
		{"nbf differs", with(func(c *Claims) { c.Nbf-- }), iss, &from, &until, reason.Malformed, "nbf claim"},
		{"nbf without validFrom", full, iss, nil, &until, reason.Malformed, "nbf claim"},
		{"until before from", Claims{}, iss, &until, &from, reason.Malformed, "validUntil is not after validFrom"},
		{"until equals from", Claims{}, iss, &from, &from, reason.Malformed, "validUntil is not after validFrom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, CheckClaims(&tc.cl, tc.issuer, sub, id, tc.from, tc.until), tc.want, tc.text)
		})
	}
}

func TestCheckWindow(t *testing.T) {
	from := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	until := from.Add(24 * time.Hour)
	const skew = time.Minute
	for _, tc := range []struct {
		name        string
		now         time.Time
		from, until *time.Time
		exp         int64
		want        reason.Code
		text        string
	}{
		{"inside", from.Add(time.Hour), &from, &until, until.Unix(), "", ""},
		{"no bounds", from.Add(-100 * time.Hour), nil, nil, 0, "", ""},
		{"before, within skew", from.Add(-30 * time.Second), &from, &until, 0, "", ""},
		{"before", from.Add(-2 * time.Minute), &from, &until, 0, reason.NotYetValid, "valid from 2026-01-01T12:00:00Z"},
		{"after, within skew", until.Add(30 * time.Second), &from, &until, until.Unix(), "", ""},
		{"after", until.Add(2 * time.Minute), &from, &until, 0, reason.Expired, "expired at 2026-01-02T12:00:00Z"},
		{"validUntil reported before exp", until.Add(2 * time.Minute), &from, &until, until.Unix(), reason.Expired, "expired at"},
		{"exp alone", until.Add(2 * time.Minute), &from, nil, until.Unix(), reason.Expired, "exp has passed"},
		{"exp before validUntil", from.Add(2 * time.Hour), &from, &until, from.Add(time.Hour).Unix(), reason.Expired, "exp has passed"},
		{"exp, within skew", until.Add(30 * time.Second), nil, nil, until.Unix(), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, CheckWindow(tc.now, skew, tc.from, tc.until, tc.exp), tc.want, tc.text)
		})
	}
}
