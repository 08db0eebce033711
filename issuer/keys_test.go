package issuer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// kidOf returns the protected header kid of a compact JWS.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	p, err := jws.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	return p.Header.Kid
}

func TestRotateKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	doc, err := e.is.DIDDocument(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if doc.ID != testDID || len(doc.VerificationMethod) != 1 || len(doc.AssertionMethod) != 1 {
		t.Fatalf("document before rotation = %+v", doc)
	}
	oldKid := doc.VerificationMethod[0].ID
	a, before := e.issue(t, e.orchP, nil)
	if got := kidOf(t, before.Credential); got != oldKid {
		t.Fatalf("kid = %q, want %q", got, oldKid)
	}

	_, err = e.is.RotateKey(ctx, e.orchP)
	wantErr(t, err, KindForbidden, CodeForbidden)
	if keys, _ := e.is.Keys(ctx); len(keys) != 1 {
		t.Fatalf("an orchestrator rotated: %d keys", len(keys))
	}

	pk, err := e.is.RotateKey(ctx, e.adminP)
	if err != nil {
		t.Fatal(err)
	}
	newKid := testDID + "#" + pk.KID
	if newKid == oldKid || !pk.Primary {
		t.Fatalf("rotated key %+v", pk)
	}

	doc, err = e.is.DIDDocument(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range doc.VerificationMethod {
		ids = append(ids, m.ID)
		if m.Type != did.TypeJsonWebKey || m.Controller != testDID || m.PublicKeyJwk == nil {
			t.Errorf("method %+v", m)
		}
	}
	if !slices.Contains(ids, oldKid) || !slices.Contains(ids, newKid) || len(ids) != 2 {
		t.Fatalf("methods = %v, want %s and %s", ids, oldKid, newKid)
	}
	if !slices.Contains(doc.AssertionMethod, oldKid) || !slices.Contains(doc.AssertionMethod, newKid) {
		t.Fatalf("assertionMethod = %v", doc.AssertionMethod)
	}
	keys, err := e.is.Keys(ctx)
	if err != nil || len(keys) != 2 || keys[0].KID != pk.KID {
		t.Fatalf("Keys = %+v, %v (primary first)", keys, err)
	}

	// The credential signed before the rotation still verifies.
	if _, err := vc.VerifyCredential(ctx, before.Credential, e.is.KeyResolver()); err != nil {
		t.Fatalf("pre-rotation credential: %v", err)
	}
	// New credentials, first and refreshed, use the new key.
	_, after := e.issue(t, e.orchP, nil)
	if got := kidOf(t, after.Credential); got != newKid {
		t.Fatalf("kid after rotation = %q, want %q", got, newKid)
	}
	if _, err := vc.VerifyCredential(ctx, after.Credential, e.is.KeyResolver()); err != nil {
		t.Fatal(err)
	}
	ref, err := e.is.Refresh(ctx, e.refreshVP(t, a, before.Credential), "POST", refreshURL)
	if err != nil {
		t.Fatalf("refresh of a pre-rotation credential: %v", err)
	}
	if got := kidOf(t, ref.Credential); got != newKid {
		t.Fatalf("refreshed kid = %q, want %q", got, newKid)
	}
	s, err := e.is.Signer(ctx)
	if err != nil || s.KeyID() != newKid || !strings.HasPrefix(s.KeyID(), testDID+"#") {
		t.Fatalf("Signer = %v, %v", s, err)
	}

	evs := e.events(t, audit.Filter{Action: audit.ActionKeyRotate})
	if len(evs) != 2 || evs[0].Decision != audit.DecisionDeny || evs[1].Decision != audit.DecisionAllow || evs[1].Resource != newKid {
		t.Errorf("audit = %+v", evs)
	}

	// After a restart the resolver knows both keys.
	e.reopen(t)
	for _, tok := range []string{before.Credential, after.Credential, ref.Credential} {
		if _, err := vc.VerifyCredential(ctx, tok, e.is.KeyResolver()); err != nil {
			t.Fatalf("after reopen: %v", err)
		}
	}
}

// failTxAudit fails every event written inside a transaction.
type failTxAudit struct{ AuditLog }

func (failTxAudit) AppendTx(store.Tx, *audit.Event) error { return errors.New("audit disk full") }

// TestFaultRotateAuditFails: a rotation whose audit event cannot be
// written leaves no new key, in memory or on disk (after a reopen).
func TestFaultRotateAuditFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	is, err := New(e.db, e.ks, e.status, failTxAudit{e.audit}, Config{URL: testURL, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.is.Keys(ctx)
	if _, err := is.RotateKey(ctx, e.adminP); err == nil {
		t.Fatal("rotation succeeded without its audit event")
	}
	if keys, _ := is.Keys(ctx); len(keys) != len(before) {
		t.Errorf("%d keys after a failed rotation, want %d", len(keys), len(before))
	}
	e.reopen(t)
	if keys, _ := e.is.Keys(ctx); len(keys) != len(before) {
		t.Errorf("%d keys on disk after a failed rotation, want %d", len(keys), len(before))
	}
}
