package verifier

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// countingListener accepts connections on loopback, counts and closes them.
func countingListener(t *testing.T) (port string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, conns
}

// TestHolderDIDWebNeverFetched: a presentation whose holder (and kid) is a
// did:web is refused as unknown_key without any connection, even by a
// verifier whose resolver may fetch did:web:localhost over http. Before,
// the verifier fetched the holder's document from the named host.
func TestHolderDIDWebNeverFetched(t *testing.T) {
	port, conns := countingListener(t)
	keys := did.NewMultiResolver(did.NewWebResolver(did.WebOptions{AllowHTTPLocalhost: true}))
	e := newEnv(t)
	v, err := New(WithKeyResolver(keys), WithTrustedIssuers(issuerDID), WithStatusChecker(e.status),
		WithClock(e.clock.Now), WithAudience(audience))
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	for _, holder := range []string{
		"did:web:localhost%3A" + port,
		"did:web:localhost%3A" + port + ":users:x",
	} {
		t.Run(holder, func(t *testing.T) {
			s, err := vc.NewKeySigner(k, holder+"#k1")
			if err != nil {
				t.Fatal(err)
			}
			now := e.now()
			p := &vc.Presentation{Holder: holder, Aud: vc.Audience{audience}, Iat: now.Unix(), Exp: now.Add(time.Minute).Unix(), Jti: "j-" + holder}
			tok, err := vc.SignPresentation(s, p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tok, Request{})
			wantReason(t, err, reason.UnknownKey)
			_, err = v.VerifyHolder(context.Background(), tok, Request{})
			wantReason(t, err, reason.UnknownKey)
		})
	}
	time.Sleep(50 * time.Millisecond) // let a stray connection be counted
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections to the holder's host", n)
	}
}

// blockingKeys holds key resolutions for one issuer until released, as a
// silent issuer host would.
type blockingKeys struct {
	inner   *verifiertest.Keys
	slow    string
	entered chan struct{}
	release chan struct{}
}

func (k *blockingKeys) ResolveKey(ctx context.Context, kid string, rel did.Relationship) (crypto.PublicKey, error) {
	if strings.HasPrefix(kid, k.slow+"#") {
		k.entered <- struct{}{}
		select {
		case <-k.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return k.inner.ResolveKey(ctx, kid, rel)
}

// TestSlowIssuerHoldsNoSlot: while the keys of one issuer take long to
// resolve, a verification of another issuer's credential on a verifier
// with a single concurrency slot completes at once. Before, the waiting
// verification held the only slot.
func TestSlowIssuerHoldsNoSlot(t *testing.T) {
	const slowDID = "did:web:slow.example.com"
	e := newEnv(t)
	slow := verifiertest.NewIssuer(t, slowDID, e.keys)
	bk := &blockingKeys{inner: e.keys, slow: slowDID, entered: make(chan struct{}, 4), release: make(chan struct{})}
	v, err := New(WithKeyResolver(bk), WithTrustedIssuers(issuerDID, slowDID), WithStatusChecker(e.status),
		WithClock(e.clock.Now), WithAudience(audience), WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	slowCred := slow.Credential(t, e.agent.DID, audience, []string{"calendar:read"}, e.now(), nil)
	done := make(chan error, 4)
	for range 4 {
		p := e.present(e.agent, slowCred, nil)
		go func() { _, err := v.Verify(context.Background(), p, req()); done <- err }()
	}
	for range 4 {
		select {
		case <-bk.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the slow resolutions did not all start: they queue for the slot")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := v.Verify(ctx, e.present(e.agent, e.credential(e.agent.DID, nil), nil), req()); err != nil {
		t.Fatalf("another issuer's credential while one issuer is slow: %v", err)
	}
	close(bk.release)
	for range 4 {
		if err := <-done; err != nil {
			t.Fatalf("slow issuer's credential once released: %v", err)
		}
	}
}
