package statuslist_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
)

// oneKey resolves a single kid; a real verifier uses did.MultiResolver.
type oneKey struct {
	kid string
	pub crypto.PublicKey
}

func (k oneKey) ResolveKey(_ context.Context, kid string, _ did.Relationship) (crypto.PublicKey, error) {
	if kid != k.kid {
		return nil, reason.New(reason.UnknownKey, "unknown kid")
	}
	return k.pub, nil
}

// A verifier checks credentialStatus entries against the issuer's signed
// list. Here the list is signed with SignListCredential and served by a
// bare handler; an agentid issuer serves its lists with package
// statuslist/publish.
func ExampleChecker() {
	ctx := context.Background()
	const issuer = "did:web:localhost%3A8080"
	_, priv, _ := ed25519.GenerateKey(nil)
	signer, _ := vc.NewKeySigner(priv, issuer+"#k1")

	// The issuer's HTTP server; plain http is allowed for localhost only.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	listURL := "http://localhost:" + port + "/status/revocation/0"

	// A revocation list with index 42 set.
	bits := statuslist.New(statuslist.MinSize)
	if err := bits.Set(42); err != nil {
		panic(err)
	}
	now := time.Now().Truncate(time.Second)
	tok, err := statuslist.SignListCredential(signer, statuslist.ListCredential{
		Issuer: issuer, URL: listURL, Purpose: statuslist.Revocation, Bits: bits,
		TTL: 5 * time.Minute, ValidFrom: now, ValidUntil: now.Add(24 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	mux.HandleFunc("/status/revocation/0", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", statuslist.MediaType)
		_, _ = io.WriteString(w, tok)
	})

	// Verifying.
	checker, err := statuslist.NewChecker(statuslist.CheckerOptions{
		Keys: oneKey{kid: issuer + "#k1", pub: priv.Public()},
	})
	if err != nil {
		panic(err)
	}
	entry := func(i int) []vc.StatusEntry {
		is := strconv.Itoa(i)
		return []vc.StatusEntry{{
			ID: listURL + "#" + is, Type: statuslist.EntryType, StatusPurpose: "revocation",
			StatusListIndex: is, StatusListCredential: listURL,
		}}
	}
	fmt.Println("index 7:", checker.Check(ctx, issuer, entry(7)))
	code, _ := reason.CodeOf(checker.Check(ctx, issuer, entry(42)))
	fmt.Println("index 42:", code)
	// Output:
	// index 7: <nil>
	// index 42: revoked
}
