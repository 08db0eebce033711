package statuslist

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// TestSignListCredential: what SignListCredential signs is the form the
// Checker verifies, for both purposes.
func TestSignListCredential(t *testing.T) {
	ctx := context.Background()
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	c, err := NewChecker(CheckerOptions{Keys: newFakeKeys(signer)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	for _, p := range []Purpose{Revocation, Suspension} {
		bits := New(MinSize)
		bits.Set(9)
		path := "/status/" + string(p) + "/0"
		u := fs.base + path
		tok, err := SignListCredential(signer, ListCredential{
			Issuer: testIssuer, URL: u, Purpose: p, Bits: bits,
			TTL: 5 * time.Minute, ValidFrom: now, ValidUntil: now.Add(24 * time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
		fs.put(path, tok)
		want := reason.Revoked
		if p == Suspension {
			want = reason.Suspended
		}
		wantCode(t, c.Check(ctx, testIssuer, []vc.StatusEntry{entryFor(u, p, 9)}), want)
		wantCode(t, c.Check(ctx, testIssuer, []vc.StatusEntry{entryFor(u, p, 10)}), "")

		tk, err := jws.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		var lc listCredential
		if err := json.Unmarshal(tk.Payload, &lc); err != nil {
			t.Fatal(err)
		}
		s := lc.CredentialSubject
		if tk.Header.Typ != vc.TypCredential || tk.Header.Kid != testKid || lc.ID != u || lc.Jti != u ||
			lc.Iss != testIssuer || lc.Iat != now.Unix() || lc.Exp != now.Add(24*time.Hour).Unix() ||
			s.ID != u+"#list" || len(s.StatusPurpose) != 1 || s.StatusPurpose[0] != string(p) ||
			s.TTL == nil || *s.TTL != 300000 {
			t.Fatalf("%s: header %+v, payload %s", p, tk.Header, tk.Payload)
		}
	}
}

func TestSignListCredentialRefuses(t *testing.T) {
	signer := newEdSigner(t, testKid)
	now := time.Now()
	good := ListCredential{
		Issuer: testIssuer, URL: "https://issuer.example/status/revocation/0", Purpose: Revocation,
		Bits: New(MinSize), TTL: time.Minute, ValidFrom: now, ValidUntil: now.Add(time.Hour),
	}
	if _, err := SignListCredential(signer, good); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*ListCredential)) ListCredential { l := good; f(&l); return l }
	for name, tc := range map[string]struct {
		s jws.Signer
		l ListCredential
	}{
		"nil signer":      {nil, good},
		"foreign kid":     {newEdSigner(t, "did:web:other.example#k1"), good},
		"other issuer":    {signer, with(func(l *ListCredential) { l.Issuer = "did:web:other.example" })},
		"no bits":         {signer, with(func(l *ListCredential) { l.Bits = nil })},
		"unknown purpose": {signer, with(func(l *ListCredential) { l.Purpose = "message" })},
	} {
		if _, err := SignListCredential(tc.s, tc.l); err == nil {
			t.Errorf("%s: signed", name)
		} else if name == "foreign kid" && !strings.Contains(err.Error(), "not a key of issuer") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseIndex(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "7": 7, "131071": 131071, "1000000000": 1000000000} {
		if n, ok := ParseIndex(s); !ok || n != want {
			t.Errorf("ParseIndex(%q) = %d, %v", s, n, ok)
		}
	}
	for _, s := range []string{"", "00", "01", "-1", "+1", "0x10", "1e3", " 1", "1 ", "١", "12345678901"} {
		if n, ok := ParseIndex(s); ok {
			t.Errorf("ParseIndex(%q) = %d, accepted", s, n)
		}
	}
}

func TestFromBytes(t *testing.T) {
	b := []byte{0x80, 0x01}
	l := FromBytes(b)
	if l.Len() != 16 {
		t.Fatalf("Len %d", l.Len())
	}
	for i := 0; i < 16; i++ {
		if got, _ := l.Get(i); got != (i == 0 || i == 15) {
			t.Fatalf("bit %d = %v", i, got)
		}
	}
	// The bytes are used, not copied.
	if err := l.Set(1); err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xc0 {
		t.Fatalf("Set did not write through: %#x", b[0])
	}
}
