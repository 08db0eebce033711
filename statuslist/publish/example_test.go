package publish_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
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

// An issuer allocates status entries with a credential, serves its lists
// and change feed; a verifier subscribed to the feed sees a revocation
// within a second.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, _ := os.MkdirTemp("", "statuslist-example")
	defer os.RemoveAll(dir)
	db, err := boltstore.Open(filepath.Join(dir, "agentid.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()

	// The issuer's HTTP server; plain http is allowed for localhost only.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base := "http://localhost:" + port

	const issuer = "did:web:localhost%3A8080"
	_, priv, _ := ed25519.GenerateKey(nil)
	signer, _ := vc.NewKeySigner(priv, issuer+"#k1")

	lists, err := publish.Open(db, publish.Options{BaseURL: base})
	if err != nil {
		panic(err)
	}
	feed := publish.NewFeed(publish.FeedOptions{})
	defer feed.Close()
	pub, err := publish.NewPublisher(lists, publish.PublisherOptions{
		Issuer: issuer,
		Signer: func() jws.Signer { return signer },
		Feed:   feed,
	})
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	mux.Handle("/status/", pub)
	mux.Handle("/v1/status/events", feed)

	// Issuing: the entries commit with the credential.
	var status []vc.StatusEntry
	err = db.Update(ctx, func(tx store.Tx) error {
		for _, p := range []statuslist.Purpose{statuslist.Revocation, statuslist.Suspension} {
			e, err := lists.AllocateTx(tx, p)
			if err != nil {
				return err
			}
			status = append(status, e)
		}
		return nil // ... and store the credential in the same transaction
	})
	if err != nil {
		panic(err)
	}

	// Verifying.
	checker, err := statuslist.NewChecker(statuslist.CheckerOptions{
		Keys: oneKey{kid: issuer + "#k1", pub: priv.Public()},
	})
	if err != nil {
		panic(err)
	}
	if err := checker.Subscribe(ctx, base+"/v1/status/events"); err != nil {
		panic(err)
	}
	fmt.Println("before:", checker.Check(ctx, issuer, status))

	// Revoking.
	if err := lists.Set(ctx, status[0], true); err != nil {
		panic(err)
	}
	start := time.Now()
	err = checker.Check(ctx, issuer, status)
	for err == nil && time.Since(start) < 5*time.Second {
		time.Sleep(10 * time.Millisecond)
		err = checker.Check(ctx, issuer, status)
	}
	code, _ := reason.CodeOf(err)
	fmt.Println("after:", code)
	// Output:
	// before: <nil>
	// after: revoked
}
