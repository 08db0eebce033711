package publish

import (
	"strings"
	"testing"
)

// Changed accepts exactly "purpose listURL" for a list URL of this store
// whose purpose matches, and marks that list changed; anything else is
// refused and notifies no one.
func FuzzChanged(f *testing.F) {
	for _, s := range []string{
		"revocation https://issuer.example/status/revocation/0",
		"suspension https://issuer.example/status/suspension/7",
		"revocation https://issuer.example/status/suspension/0",
		"revocation https://other.example/status/revocation/0",
		"revocation https://issuer.example/status/revocation/x",
		"revocation https://issuer.example/status/revocation/-1",
		"", " ", "revocation", "revocation ", "x y z",
	} {
		f.Add(s)
	}
	db, _ := openDB(f)
	s, err := Open(db, Options{BaseURL: "https://issuer.example"})
	if err != nil {
		f.Fatal(err)
	}
	var got []string
	s.watch(func(u string, p Purpose) { got = append(got, string(p)+" "+u) })
	f.Fuzz(func(t *testing.T, payload string) {
		got = got[:0]
		err := s.Changed(payload)
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("Changed(%q) refused it but notified %q", payload, got)
			}
			return
		}
		if len(got) != 1 || got[0] != payload {
			t.Fatalf("Changed(%q) notified %q; want exactly the payload", payload, got)
		}
		p, u, _ := strings.Cut(payload, " ")
		if !strings.HasPrefix(u, "https://issuer.example/status/"+p+"/") {
			t.Fatalf("Changed accepted %q, which names no list of the store", payload)
		}
	})
}
