package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/agentid/agentid/store"
)

// TestForgedSessionRefused: a session written into the store by someone
// without the master key (an insider with the database, not the key) is
// refused like no session, and so is a real session record edited to
// name another principal: session records are sealed with the records key
// like the issuer's own records.
func TestForgedSessionRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const bucket = "console.sessions"
	hash := func(id string) string { s := sha256.Sum256([]byte(id)); return hex.EncodeToString(s[:]) }

	// A session planted for the first admin, unsealed.
	now := e.clock.Now()
	forged, _ := json.Marshal(map[string]any{"principal": e.admin.DID, "created": now, "seen": now, "csrf": "x"})
	const id = "forged-session-id-0123456789abcdef0123456789abcdef"
	if err := e.app.DB.Update(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucket).Put([]byte(hash(id)), forged)
	}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.cookie = &http.Cookie{Name: "agentid_console", Value: id}
	if p := b.get("/console/"); p.status != http.StatusUnauthorized || p.code() != "no_session" {
		t.Fatalf("forged session: %d %q, want 401 no_session", p.status, p.code())
	}

	// A real session whose record is edited to name another principal.
	orch := e.addOrchestrator("orch")
	real := e.browser()
	real.signIn(orch)
	if p := real.get("/console/"); p.status != http.StatusOK {
		t.Fatalf("real session: %d %q", p.status, p.code())
	}
	key := []byte(hash(real.cookie.Value))
	if err := e.app.DB.Update(ctx, func(tx store.Tx) error {
		bk := tx.Bucket(bucket)
		v := bk.Get(key)
		if v == nil {
			t.Fatal("no record for the real session")
		}
		edited := bytes.Clone(v)
		i := bytes.Index(edited, []byte(orch.DID))
		if i < 0 {
			t.Fatal("the record does not name its principal")
		}
		edited = append(append(append([]byte(nil), edited[:i]...), e.admin.DID...), edited[i+len(orch.DID):]...)
		return bk.Put(key, edited)
	}); err != nil {
		t.Fatal(err)
	}
	if p := real.get("/console/principals"); p.status != http.StatusUnauthorized || p.code() != "no_session" {
		t.Fatalf("edited session: %d %q, want 401 no_session", p.status, p.code())
	}
}
