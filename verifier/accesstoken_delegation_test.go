package verifier

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// delegatedToken signs an access token for e's agent as a depth-2
// sub-agent: the chain names a root agent and a parent, and the status
// entries are the agent's credential's, then the root's and the parent's
// agent-level pairs (here the entries of two other credentials, whose
// indexes the test sets).
func (e *env) delegatedToken(tb testing.TB, jti string, ancestors [2]string) string {
	tb.Helper()
	pc, err := vc.ParseCredential(e.credential(e.agent.DID, nil))
	if err != nil {
		tb.Fatal(err)
	}
	st := slices.Clone(pc.Credential.CredentialStatus)
	for _, a := range ancestors {
		ac, err := vc.ParseCredential(a)
		if err != nil {
			tb.Fatal(err)
		}
		st = append(st, ac.Credential.CredentialStatus...)
	}
	chain := []vc.DelegationLink{{Credential: "urn:uuid:root", Holder: "did:key:root"}, {Credential: "urn:uuid:parent", Holder: "did:key:parent"}}
	sub, act := oauth.Delegated(e.agent.DID, chain)
	jkt, _ := oauth.Thumbprint(e.agent.Key.Public())
	now := e.now()
	tok, err := oauth.SignAccessToken(e.issuer.Signer, &oauth.AccessToken{Issuer: "https://issuer.example.com",
		Subject: sub, ClientID: e.agent.DID, Audience: vc.Audience{audience}, Scope: "calendar:read",
		JTI: jti, IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(), Confirmation: &oauth.Confirmation{JKT: jkt},
		CredentialID: pc.Credential.ID, CredentialStatus: st, Act: act, Delegation: chain})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestVerifyDelegatedAccessToken: the result of a sub-agent's token names
// the agent (client_id) and its chain; a set bit of an ancestor's entry
// refuses it with invalid_token and the exact reason, the description
// naming the ancestor; every decision's audit event carries the chain.
func TestVerifyDelegatedAccessToken(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t, WithAudit(audit.JSONLines(&buf)))
	ctx := context.Background()
	root, parent := e.credential("did:key:root", nil), e.credential("did:key:parent", nil)
	call := func(jti string) (*Result, error) {
		tok := e.delegatedToken(t, jti, [2]string{root, parent})
		p, err := oauth.NewProof(e.agent.Key, oauth.ProofOptions{Method: "GET", URL: eventsURL, AccessToken: tok, Now: e.now()})
		if err != nil {
			t.Fatal(err)
		}
		return e.v.VerifyAccessToken(ctx, AccessCredential{Scheme: "DPoP", Token: tok, Proof: p}, req("calendar:read"))
	}
	res, err := call("ok")
	if err != nil {
		t.Fatal(err)
	}
	if res.Agent != e.agent.DID || len(res.Delegation) != 2 || res.Delegation[1].Holder != "did:key:parent" ||
		!slices.Equal(res.AccessToken.Act.Actors(), []string{e.agent.DID, "did:key:parent"}) || res.AccessToken.Subject != "did:key:root" {
		t.Fatalf("result %+v", res)
	}
	for _, c := range []struct {
		name, cred, purpose string
		code                reason.Code
		names               string
	}{
		{"root revoked", root, "revocation", reason.Revoked, "did:key:root"},
		{"parent suspended", parent, "suspension", reason.Suspended, "did:key:parent"},
	} {
		t.Run(c.name, func(t *testing.T) {
			idx := e.statusIndex(c.cred, c.purpose)
			e.status.Set(idx, reason.New(c.code, "bit set"))
			defer e.status.Set(idx, nil)
			_, err := call(c.name)
			oe, ok := oauth.AsError(err)
			if !ok || oe.Code != oauth.InvalidToken || oe.Reason != c.code || !strings.Contains(oe.Description, "ancestor "+c.names) {
				t.Fatalf("got %v, want invalid_token %s naming %s", err, c.code, c.names)
			}
		})
	}
	evs := decodeEvents(t, buf.Bytes())
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	for _, ev := range evs {
		if ev.Actor != e.agent.DID || len(ev.Delegation) != 2 || ev.Delegation[0].Holder != "did:key:root" {
			t.Fatalf("event %+v", ev)
		}
	}
	if evs[1].Reason != string(reason.Revoked) || evs[2].Reason != string(reason.Suspended) {
		t.Fatalf("reasons %q %q", evs[1].Reason, evs[2].Reason)
	}
}

func (e *env) statusIndex(cred, purpose string) string {
	pc, err := vc.ParseCredential(cred)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range pc.Credential.CredentialStatus {
		if s.StatusPurpose == purpose {
			return s.StatusListIndex
		}
	}
	e.t.Fatal("no " + purpose + " entry")
	return ""
}

// BenchmarkVerifyDelegatedAccessTokenInterleaved: a new depth-2 sub-agent
// token each time (both signatures, six status entries, act and
// delegation claims) against a new root agent's token each time, each
// timed right after one bare ed25519.Verify (the baseline) in the same
// iteration; reports both ratios to the baseline and depth-2/root.
// Status from memory, as in BenchmarkVerifyAccessToken.
func BenchmarkVerifyDelegatedAccessTokenInterleaved(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	root, parent := e.credential("did:key:root", nil), e.credential("did:key:parent", nil)
	pub := e.agent.Key.Public().(ed25519.PublicKey)
	msg := make([]byte, 700)
	sig := ed25519.Sign(e.agent.Key, msg)
	rq := Request{Method: "GET", URL: eventsURL, Scopes: []string{"calendar:read"}}
	type call struct{ tok, proof string }
	mk := func(tok string) call {
		p, err := oauth.NewProof(e.agent.Key, oauth.ProofOptions{Method: "GET", URL: eventsURL, AccessToken: tok, Now: e.now()})
		if err != nil {
			b.Fatal(err)
		}
		return call{tok, p}
	}
	flat, deep := make([]call, b.N), make([]call, b.N)
	for i := range flat {
		flat[i] = mk(e.accessToken(b, fmt.Sprintf("flat-%d-%d", b.N, i)))
		deep[i] = mk(e.delegatedToken(b, fmt.Sprintf("deep-%d-%d", b.N, i), [2]string{root, parent}))
	}
	b.Logf("root token %d bytes, depth-2 token %d bytes", len(flat[0].tok), len(deep[0].tok))
	var base, tflat, tdeep time.Duration
	mb, mflat, mdeep := make([]time.Duration, b.N), make([]time.Duration, b.N), make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
		t1 := time.Now()
		if _, err := e.v.VerifyAccessToken(ctx, AccessCredential{Scheme: "DPoP", Token: flat[i].tok, Proof: flat[i].proof}, rq); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := e.v.VerifyAccessToken(ctx, AccessCredential{Scheme: "DPoP", Token: deep[i].tok, Proof: deep[i].proof}, rq); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		base += t1.Sub(t0)
		tflat += t2.Sub(t1)
		tdeep += t3.Sub(t2)
		mb[i], mflat[i], mdeep[i] = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(base.Nanoseconds())/n, "baseline-ns/op")
	b.ReportMetric(float64(tflat.Nanoseconds())/n, "root-ns/op")
	b.ReportMetric(float64(tdeep.Nanoseconds())/n, "depth2-ns/op")
	b.ReportMetric(float64(tflat)/float64(base), "root-x-baseline")
	b.ReportMetric(float64(tdeep)/float64(base), "depth2-x-baseline")
	b.ReportMetric(float64(tdeep)/float64(tflat), "depth2-x-root")
	// Ratios of medians too: an iteration during which another process
	// held the CPU weighs on a sum, not on a median.
	slices.Sort(mb)
	slices.Sort(mflat)
	slices.Sort(mdeep)
	b.ReportMetric(float64(mflat[b.N/2])/float64(mb[b.N/2]), "median-root-x-baseline")
	b.ReportMetric(float64(mdeep[b.N/2])/float64(mb[b.N/2]), "median-depth2-x-baseline")
}
