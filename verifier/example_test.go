package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// exampleT lets examples use verifiertest's builders, which report setup
// failures through a testing.TB-like value.
type exampleT struct{}

func (exampleT) Helper()           {}
func (exampleT) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func ExampleVerifier_Verify() {
	const aud = "https://calendar.example.com"
	var t exampleT
	keys, status := new(verifiertest.Keys), new(verifiertest.Status)
	clock := verifiertest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	issuer := verifiertest.NewIssuerWithKey(t, "did:web:issuer.example.com", keys, verifiertest.SeedKey("issuer"))
	agent := verifiertest.NewAgentWithKey(t, keys, verifiertest.SeedKey("agent"))

	v, err := verifier.New(
		verifier.WithKeyResolver(keys), // in production: a did.MultiResolver
		verifier.WithTrustedIssuers(issuer.DID),
		verifier.WithStatusChecker(status), // in production: a statuslist.Checker
		verifier.WithAudience(aud),
		verifier.WithClock(clock.Now),
	)
	if err != nil {
		panic(err)
	}

	// The agent presents its credential for one request.
	cred := issuer.Credential(t, agent.DID, aud, []string{"calendar:read"}, clock.Now(), nil)
	vp := agent.Present(t, cred, aud, "GET", aud+"/v1/events", clock.Now(), nil)
	req := verifier.Request{Method: "GET", URL: aud + "/v1/events", Scopes: []string{"calendar:read"}}

	res, err := v.Verify(context.Background(), vp, req)
	if err != nil {
		panic(err)
	}
	fmt.Println("allowed:", res.Agent == agent.DID, res.Scopes, res.ExpiresAt.Format(time.RFC3339))

	// The same presentation again: each one is single-use.
	_, err = v.Verify(context.Background(), vp, req)
	code, _ := reason.CodeOf(err)
	fmt.Println("again:", code)

	// After revocation, a fresh presentation of the credential is refused.
	status.Set(verifiertest.StatusIndex(t, cred, "revocation"), reason.Revoked)
	vp = agent.Present(t, cred, aud, "GET", aud+"/v1/events", clock.Now(), nil)
	_, err = v.Verify(context.Background(), vp, req)
	fmt.Println("revoked:", errors.Is(err, reason.Revoked))
	// Output:
	// allowed: true [calendar:read] 2026-11-22T12:14:00Z
	// again: replayed
	// revoked: true
}
