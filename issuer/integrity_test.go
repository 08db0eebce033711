package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// putRaw writes a record straight into the database, as someone with
// write access to the file but without the master key would.
func (e *env) putRaw(tb testing.TB, bucket, key string, v []byte) {
	tb.Helper()
	if err := e.db.Update(context.Background(), func(tx store.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), v)
	}); err != nil {
		tb.Fatal(err)
	}
}

func (e *env) getRaw(tb testing.TB, bucket, key string) []byte {
	tb.Helper()
	var out []byte
	_ = e.db.View(context.Background(), func(tx store.Tx) error {
		out = bytes.Clone(tx.Bucket(bucket).Get([]byte(key)))
		return nil
	})
	return out
}

// TestForgedPrincipalDoesNotAuthenticate is the finding: one JSON record
// written into the principals bucket made a new admin.
func TestForgedPrincipalDoesNotAuthenticate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	mallory := e.newAgent(t)
	forged, _ := json.Marshal(principalRecord{DID: mallory.DID, Role: RoleAdmin, CreatedAt: t0})
	// A plain record (the format of every release before record MACs), and
	// a sealed-looking one with a made-up MAC, and a genuine sealed record
	// moved from the admin's key to mallory's.
	moved := e.getRaw(t, bucketPrincipals, e.admin.DID)
	for name, raw := range map[string][]byte{
		"unsealed": forged,
		"bad MAC":  append([]byte("\x00am1"+string(bytes.Repeat([]byte{1}, 32))), forged...),
		"moved":    moved,
	} {
		t.Run(name, func(t *testing.T) {
			e.putRaw(t, bucketPrincipals, mallory.DID, raw)
			url := testURL + "/v1/principals"
			_, err := e.is.Authenticate(ctx, e.requestVP(t, mallory, "GET", url), "GET", url, nil)
			wantErr(t, err, KindUnauthenticated, CodeRecordTampered)
			evs := e.events(t, audit.Filter{Action: "authenticate", Actor: mallory.DID})
			if len(evs) == 0 || evs[len(evs)-1].Decision != audit.DecisionDeny || evs[len(evs)-1].Reason != string(CodeRecordTampered) {
				t.Errorf("refusal not audited: %+v", evs)
			}
			// The listing fails closed too, rather than show the forgery.
			_, err = e.is.Principals(ctx, e.adminP)
			wantErr(t, err, KindIntegrity, CodeRecordTampered)
		})
	}
}

// TestEditedCredentialFailsClosed: an edited credential or agent record
// makes the operations that read it fail with CodeRecordTampered.
func TestEditedCredentialFailsClosed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, iss := e.issue(t, e.orchP, nil)
	raw := e.getRaw(t, bucketCredentials, iss.ID)
	// Flip "revoked" in the JSON after the MAC, keeping the MAC.
	edited := bytes.Replace(raw, []byte(`"agent":"`), []byte(`"revoked":true,"agent":"`), 1)
	if bytes.Equal(edited, raw) {
		t.Fatal("edit did not apply")
	}
	e.putRaw(t, bucketCredentials, iss.ID, edited)

	_, err := e.is.SetStatus(ctx, e.adminP, iss.ID, Suspend)
	wantErr(t, err, KindIntegrity, CodeRecordTampered)
	evs := e.events(t, audit.Filter{Action: audit.ActionCredentialSuspend})
	if len(evs) == 0 || evs[len(evs)-1].Reason != string(CodeRecordTampered) {
		t.Errorf("refusal not audited: %+v", evs)
	}

	e.clock.Advance(5 * time.Minute)
	_, err = e.is.Refresh(ctx, e.refreshVP(t, a, iss.Credential), "POST", refreshURL)
	if _, code, _ := kindCode(err); code != CodeRecordTampered {
		t.Fatalf("refresh on an edited credential record = %v, want %s", err, CodeRecordTampered)
	}

	// An edited agent record: the inventory refuses it.
	araw := e.getRaw(t, bucketAgents, a.DID)
	e.putRaw(t, bucketAgents, a.DID, bytes.Replace(araw, []byte(`"purpose":"`), []byte(`"purpose":"x`), 1))
	_, err = e.is.Agent(ctx, e.orchP, a.DID)
	wantErr(t, err, KindIntegrity, CodeRecordTampered)
}

// TestSealRecordsMigration: records written without MACs (a data
// directory from before record MACs) are refused until sealed once, and
// then read as before.
func TestSealRecordsMigration(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// Rewrite the orchestrator's record in the old, unsealed format.
	raw := e.getRaw(t, bucketPrincipals, e.orch.DID)
	plain := raw[4+32:]
	e.putRaw(t, bucketPrincipals, e.orch.DID, plain)
	if _, err := e.is.Principal(ctx, e.orch.DID); err == nil {
		t.Fatal("unsealed record read without migration")
	}
	var n int
	if err := e.db.Update(ctx, func(tx store.Tx) (err error) { n, err = e.is.SealRecordsTx(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("sealed %d records, want 1", n)
	}
	if p, err := e.is.Principal(ctx, e.orch.DID); err != nil || p.Role != RoleOrchestrator {
		t.Fatalf("after migration: %+v, %v", p, err)
	}
	if bad, err := e.is.CheckRecords(ctx, 0); err != nil || len(bad) != 0 {
		t.Errorf("CheckRecords = %v, %v", bad, err)
	}
}
