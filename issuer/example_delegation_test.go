package issuer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// An agent asks for a narrower sub-agent by presenting its own credential;
// the sub-agent's credential names the chain and carries its ancestor's
// agent-level status entries.
func ExampleIssuer_IssueAsAgent() {
	ctx := context.Background()
	dir, cleanup := tempDir()
	defer cleanup()
	st, err := boltstore.Open(filepath.Join(dir, "agentid.db"), nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	master, _ := keystore.ParseMasterKey(mustMasterKey())
	keys, _ := keystore.Open(st, master, nil)
	if err := keys.Create(ctx, issuer.KeyName, keystore.Ed25519); err != nil {
		panic(err)
	}
	const url = "https://issuer.example.com"
	lists, _ := publish.Open(st, publish.Options{BaseURL: url})
	log, _ := auditlog.Open(st, nil)
	is, err := issuer.New(st, keys, lists, log, issuer.Config{URL: url})
	if err != nil {
		panic(err)
	}
	adminKey := verifiertest.NewAgent(exampleTB{}, new(verifiertest.Keys))
	admin, _ := is.AddPrincipal(ctx, nil, issuer.Principal{DID: adminKey.DID, Role: issuer.RoleAdmin})
	proofFor := func(a *verifiertest.Agent, principal string) string {
		nonce := is.Nonce()
		return a.Present(exampleTB{}, "", url, "", "", time.Now(), func(p *vc.Presentation) { p.Nonce, p.For = nonce, principal })
	}

	// The admin registers an agent whose tree may be one level deep.
	parent := verifiertest.NewAgent(exampleTB{}, new(verifiertest.Keys))
	root, err := is.Issue(ctx, admin, issuer.IssueRequest{Agent: parent.DID, Proof: proofFor(parent, admin.DID),
		Scopes: []string{"calendar:read", "calendar:write"}, Audiences: []string{"https://calendar.example.com"},
		Owner: "team-payments", Purpose: "plan", TTL: 30 * time.Minute, MaxDepth: 1})
	if err != nil {
		panic(err)
	}

	// The agent asks, as itself, for a read-only sub-agent: its request
	// presentation carries its credential and binds the request and body.
	child := verifiertest.NewAgent(exampleTB{}, new(verifiertest.Keys))
	body := []byte(`{"agent":"` + child.DID + `"}`)
	vp := parent.Present(exampleTB{}, root.Credential, url, "POST", url+"/v1/agents", time.Now(),
		func(p *vc.Presentation) { p.Htd = issuer.BodyDigest(body) })
	sub, err := is.IssueAsAgent(ctx, vp, "POST", url+"/v1/agents", body, issuer.IssueRequest{
		Agent: child.DID, Proof: proofFor(child, parent.DID),
		Scopes: []string{"calendar:read"}, Audiences: []string{"https://calendar.example.com"},
		Owner: "team-payments", Purpose: "read the calendar"})
	if err != nil {
		panic(err)
	}
	pc, _ := vc.ParseCredential(sub.Credential)
	s := pc.Credential.CredentialSubject
	fmt.Println(sub.Agent.Depth, s.Delegation[0].Holder == parent.DID, s.DelegatedBy == admin.DID, len(pc.Credential.CredentialStatus))

	// Asking for more than it holds is refused, naming the term.
	other := verifiertest.NewAgent(exampleTB{}, new(verifiertest.Keys))
	vp = parent.Present(exampleTB{}, root.Credential, url, "POST", url+"/v1/agents", time.Now(),
		func(p *vc.Presentation) { p.Htd = issuer.BodyDigest(body) })
	_, err = is.IssueAsAgent(ctx, vp, "POST", url+"/v1/agents", body, issuer.IssueRequest{
		Agent: other.DID, Proof: proofFor(other, parent.DID),
		Scopes: []string{"calendar:delete"}, Audiences: []string{"https://calendar.example.com"},
		Owner: "team-payments", Purpose: "tidy up"})
	e, _ := issuer.Refusal(err)
	fmt.Println(e.Code, e.Detail)
	// Output:
	// 1 true true 4
	// scope_exceeds_ceiling scope "calendar:delete" is not in the parent's grant
}
