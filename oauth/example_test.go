package oauth_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/agentid/agentid/oauth"
)

// A client signs a DPoP proof for a request with its access token; the
// resource server checks it against the request and learns the key's
// thumbprint, which must be the token's cnf.jkt.
func ExampleCheckProof() {
	key := ed25519.NewKeyFromSeed(make([]byte, 32)) // the agent's key
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	token := "eyJ…" // the access token, as the token endpoint answered it

	proof, err := oauth.NewProof(key, oauth.ProofOptions{Method: "GET", URL: "https://calendar.example.com/v1/events?day=today",
		AccessToken: token, Now: now})
	if err != nil {
		panic(err)
	}

	p, err := oauth.CheckProof(proof, oauth.ProofCheck{Method: "GET", URL: "https://calendar.example.com/v1/events",
		AccessToken: token, Now: now.Add(2 * time.Second)})
	if err != nil {
		panic(err)
	}
	jkt, _ := oauth.Thumbprint(key.Public())
	fmt.Println(p.Claims.Htu)
	fmt.Println(p.JKT == jkt)

	// The same proof for another URL is refused.
	_, err = oauth.CheckProof(proof, oauth.ProofCheck{Method: "GET", URL: "https://calendar.example.com/v1/admin",
		AccessToken: token, Now: now})
	fmt.Println(err)
	// Output:
	// https://calendar.example.com/v1/events
	// true
	// oauth: invalid_dpop_proof (request_mismatch): DPoP proof htu does not match the request URL
}
