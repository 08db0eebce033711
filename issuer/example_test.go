package issuer_test

import (
	"context"
	"fmt"
	"os"
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

// exampleTB is the verifiertest.TB of an Example: a failure panics.
type exampleTB struct{}

func (exampleTB) Helper()           {}
func (exampleTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// An admin registers an agent and the issuer signs its first credential,
// after checking the agent's proof that it holds its key.
func Example() {
	ctx := context.Background()
	dir, cleanup := tempDir()
	defer cleanup()

	// The pieces agentid serve wires together: a store, the keystore with
	// the issuer keyset, the status lists and the audit log.
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

	// The first admin is registered by the system itself.
	adminKey := verifiertest.NewAgent(exampleTB{}, new(verifiertest.Keys))
	admin, err := is.AddPrincipal(ctx, nil, issuer.Principal{DID: adminKey.DID, Role: issuer.RoleAdmin})
	if err != nil {
		panic(err)
	}

	// The agent proves control of its key over an issuer nonce.
	agent := verifiertest.NewAgent(exampleTB{}, new(verifiertest.Keys))
	nonce := is.Nonce()
	proof := agent.Present(exampleTB{}, "", url, "", "", time.Now(), func(p *vc.Presentation) { p.Nonce, p.For = nonce, admin.DID })

	issued, err := is.Issue(ctx, admin, issuer.IssueRequest{
		Agent: agent.DID, Proof: proof,
		Scopes: []string{"calendar:read"}, Audiences: []string{"https://calendar.example.com"},
		Owner: "team-payments", Purpose: "summarise meetings", TTL: 15 * time.Minute,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(issued.Agent.Status, issued.Agent.Scopes, issued.ValidUntil.Sub(issued.Agent.CreatedAt))

	// A refusal carries its kind and a stable code (and is audited).
	_, err = is.AddPrincipal(ctx, admin, issuer.Principal{DID: "not-a-did", Role: issuer.RoleOrchestrator})
	e, _ := issuer.Refusal(err)
	fmt.Println(e.Kind, e.Code)
	// Output:
	// active [calendar:read] 15m0s
	// invalid invalid_request
}

func mustMasterKey() string {
	s, err := keystore.GenerateMasterKeyString()
	if err != nil {
		panic(err)
	}
	return s
}

func tempDir() (string, func()) {
	dir, err := os.MkdirTemp("", "issuer-example")
	if err != nil {
		panic(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}
