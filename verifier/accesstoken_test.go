package verifier

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// TestAccessTokenIssuerNames checks the token cache's memory of issuer
// URLs: a token that verified teaches its iss, the next token of that
// issuer is checked as before, and a token naming an untrusted issuer is
// refused (untrusted_issuer) and teaches nothing, even when signed by a
// trusted issuer's key.
func TestAccessTokenIssuerNames(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sign := func(iss, jti string) string {
		pc, err := vc.ParseCredential(e.credential(e.agent.DID, nil))
		if err != nil {
			t.Fatal(err)
		}
		jkt, _ := oauth.Thumbprint(e.agent.Key.Public())
		now := e.now()
		tok, err := oauth.SignAccessToken(e.issuer.Signer, &oauth.AccessToken{Issuer: iss, Subject: e.agent.DID, ClientID: e.agent.DID,
			Audience: vc.Audience{audience}, Scope: "calendar:read", JTI: jti, IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(),
			Confirmation: &oauth.Confirmation{JKT: jkt}, CredentialID: pc.Credential.ID, CredentialStatus: pc.Credential.CredentialStatus})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	call := func(tok string) error {
		p, err := oauth.NewProof(e.agent.Key, oauth.ProofOptions{Method: "GET", URL: eventsURL, AccessToken: tok, Now: e.now()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.v.VerifyAccessToken(ctx, AccessCredential{Scheme: "DPoP", Token: tok, Proof: p}, req("calendar:read"))
		return err
	}
	for i := range 2 {
		if err := call(sign("https://issuer.example.com", fmt.Sprint("t", i))); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if d, ok := e.v.tokens.issuerDID("https://issuer.example.com"); !ok || d != issuerDID || len(e.v.tokens.issuers) != 1 {
		t.Fatalf("issuer names %v", e.v.tokens.issuers)
	}
	for _, iss := range []string{"https://other.example.com", "https://issuer.example.com/x", "http://issuer.example.com"} {
		err := call(sign(iss, "u-"+iss))
		if oe, ok := oauth.AsError(err); !ok || oe.Code != oauth.InvalidToken || oe.Reason != reason.UntrustedIssuer {
			t.Fatalf("iss %s: %v, want invalid_token untrusted_issuer", iss, err)
		}
		if _, ok := e.v.tokens.issuerDID(iss); ok {
			t.Fatalf("iss %s was remembered", iss)
		}
	}
	// The memory is bounded.
	c := &tokenCache{max: 10}
	for i := range 2 * maxIssuerNames {
		c.put(fmt.Sprint("tok", i), tokenEntry{issuer: issuerDID}, e.now().Add(time.Minute), e.now(), fmt.Sprint("https://i", i, ".example"))
	}
	if len(c.issuers) != maxIssuerNames {
		t.Fatalf("%d issuer names remembered, want %d", len(c.issuers), maxIssuerNames)
	}
}
