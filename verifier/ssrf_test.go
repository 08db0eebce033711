package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
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
