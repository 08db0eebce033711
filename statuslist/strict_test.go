package statuslist

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// A status list credential that parsers could read two ways — a second
// encodedList after the first, a member in another case — is refused, not
// decoded with encoding/json's last-wins and case folding: with a revoked
// bit in the first encodedList and a clean one in the second, the list
// would otherwise pass the revoked credential.
func TestStrictListCredential(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	c, err := NewChecker(CheckerOptions{Keys: newFakeKeys(signer), Client: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	revoked := New(MinSize)
	_ = revoked.Set(5)
	clean, _ := New(MinSize).Encode()
	resign := func(path string, edit func([]byte) []byte) string {
		t.Helper()
		tok := forgeList(t, signer, testIssuer, fs.base+path, revoked, now, nil)
		p, err := jws.Parse(tok)
		if err != nil {
			t.Fatal(err)
		}
		out, err := jws.Sign(signer, vc.TypCredential, edit(p.Payload))
		if err != nil {
			t.Fatal(err)
		}
		return fs.put(path, out)
	}
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
		want error
	}{
		{"as signed", func(b []byte) []byte { return b }, reason.Revoked},
		{"second encodedList", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"encodedList":`), []byte(`"encodedList":"`+clean+`","encodedList":`), 1)
		}, reason.StatusUnavailable},
		{"case-folded member", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"validUntil":`), []byte(`"VALIDUNTIL":`), 1)
		}, reason.StatusUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := resign("/"+tc.name, tc.edit)
			err := c.Check(ctx, testIssuer, []vc.StatusEntry{entryFor(u, Revocation, 5)})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
