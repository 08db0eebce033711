package auditlog_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := boltstore.Open(filepath.Join(dir, "agentid.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	trail, err := auditlog.Open(db, &auditlog.Options{Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// An admin revokes a credential, inside the transaction that flips the
	// status bit, so the two commit together.
	err = db.Update(ctx, func(tx store.Tx) error {
		// ... flip the revocation bit here ...
		return trail.AppendTx(tx, &audit.Event{
			Actor: "did:web:issuer.example.com", Action: audit.ActionCredentialRevoke,
			Subject: "did:key:z6MkAgent", Credential: "urn:uuid:1", Decision: audit.DecisionAllow,
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// The verifier then refuses the credential, on its own.
	err = trail.Append(ctx, &audit.Event{
		Action: audit.ActionVerify, Subject: "did:key:z6MkAgent", Credential: "urn:uuid:1",
		Resource: "https://calendar.example.com", Decision: audit.DecisionDeny, Reason: "revoked",
	})
	if err != nil {
		log.Fatal(err)
	}

	err = trail.Query(ctx, audit.Filter{Decision: audit.DecisionDeny}, func(ev *audit.Event) error {
		fmt.Println(ev.Seq, ev.Action, ev.Decision, ev.Reason)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// Export and check the export offline.
	var buf bytes.Buffer
	if err := trail.Export(ctx, audit.Filter{}, &buf); err != nil {
		log.Fatal(err)
	}
	rep, err := audit.VerifyLines(&buf)
	if err != nil {
		log.Fatal(err)
	}
	_, head, _ := trail.Head(ctx)
	fmt.Println("events:", rep.Events, "intact:", rep.OK(), "matches head:", rep.Head == head)
	// Output:
	// 2 verify deny revoked
	// events: 2 intact: true matches head: true
}
