package server

import (
	"context"
	"crypto"
	"errors"
	"testing"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
)

type countKeys struct{ n int }

func (k *countKeys) ResolveKey(context.Context, string, did.Relationship) (crypto.PublicKey, error) {
	k.n++
	return nil, errors.New("unreachable")
}

// TestRouteResolverFetchesIssuerKeysOnly: a did:web kid reaches the
// network resolver only as an assertionMethod (an issuer's key), never as
// a holder's authentication key.
func TestRouteResolverFetchesIssuerKeysOnly(t *testing.T) {
	local, other := &countKeys{}, &countKeys{}
	r := &routeResolver{own: "did:web:issuer.example.com", local: local, other: other}
	_, err := r.ResolveKey(context.Background(), "did:web:localhost%3A9#k", did.Authentication)
	if code, _ := reason.CodeOf(err); code != reason.UnknownKey || other.n != 0 {
		t.Fatalf("holder did:web: %v, %d network resolutions", err, other.n)
	}
	_, _ = r.ResolveKey(context.Background(), "did:web:other.example.com#k", did.AssertionMethod)
	if other.n != 1 {
		t.Fatalf("issuer did:web not resolved")
	}
}

func TestHTTPLocalhostFollowsIssuer(t *testing.T) {
	for d, want := range map[string]bool{
		"did:web:localhost%3A8080": true, "did:web:localhost": true, "did:web:localhost:tenant": true,
		"did:web:issuer.example.com": false, "did:web:localhost.example.com": false,
	} {
		if got := httpLocalhost(d); got != want {
			t.Errorf("httpLocalhost(%s) = %v", d, got)
		}
	}
}
