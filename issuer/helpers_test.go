package issuer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// The issuer every test runs: the local default of the design.
const (
	testURL     = "http://localhost:8080"
	testDID     = "did:web:localhost%3A8080"
	refreshURL  = testURL + "/v1/credentials/refresh"
	calendarAPI = "https://calendar.example.com"
)

// t0 is the fixed start of every test clock (a whole second, as the issuer
// truncates its timestamps to seconds).
var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// env is one opened data directory: the bbolt file, keystore, status
// lists, audit log and issuer, wired as internal/server/app.go does, with a
// settable clock, a first admin and an orchestrator.
type env struct {
	dir    string
	master tink.AEAD
	clock  *verifiertest.Clock
	keys   *verifiertest.Keys // unused by the issuer; verifiertest wants one

	db     *boltstore.Store
	ks     *keystore.Store
	status *publish.Store
	audit  *auditlog.Log
	is     *Issuer

	admin    *verifiertest.Agent
	adminP   *Principal
	orch     *verifiertest.Agent // ceiling ["calendar:*"]
	orchP    *Principal
	dbOpts   *boltstore.Options
	isConfig Config
}

// newEnv opens a fresh issuer in tb.TempDir(), registers the first admin
// (as the system) and an orchestrator with ceiling ["calendar:*"].
func newEnv(tb testing.TB) *env {
	tb.Helper()
	s, err := keystore.GenerateMasterKeyString()
	if err != nil {
		tb.Fatal(err)
	}
	master, err := keystore.ParseMasterKey(s)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{dir: tb.TempDir(), master: master, clock: verifiertest.NewClock(t0), keys: new(verifiertest.Keys),
		dbOpts: &boltstore.Options{Timeout: time.Second}}
	e.open(tb)
	e.admin = e.newAgent(tb)
	e.adminP = e.addPrincipal(tb, nil, Principal{DID: e.admin.DID, Role: RoleAdmin, Name: "first admin"})
	e.orch = e.newAgent(tb)
	e.orchP = e.addPrincipal(tb, e.adminP, Principal{DID: e.orch.DID, Role: RoleOrchestrator, Ceiling: []string{"calendar:*"}})
	return e
}

// open opens (or reopens) every component over e.dir.
func (e *env) open(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	db, err := boltstore.Open(filepath.Join(e.dir, "agentid.db"), e.dbOpts)
	if err != nil {
		tb.Fatal(err)
	}
	e.db = db
	tb.Cleanup(func() { _ = db.Close() })
	if e.ks, err = keystore.Open(db, e.master, &keystore.Options{Now: e.clock.Now}); err != nil {
		tb.Fatal(err)
	}
	ok, err := e.ks.Exists(ctx, KeyName)
	if err != nil {
		tb.Fatal(err)
	}
	if !ok {
		if err := e.ks.Create(ctx, KeyName, keystore.Ed25519); err != nil {
			tb.Fatal(err)
		}
	}
	// Records and the audit chain are authenticated, as a server runs them.
	ik, err := e.ks.IntegrityKeys(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if e.status, err = publish.Open(db, publish.Options{BaseURL: testURL, Now: e.clock.Now, RecordsKey: ik.Records}); err != nil {
		tb.Fatal(err)
	}
	if e.audit, err = auditlog.Open(db, &auditlog.Options{Now: e.clock.Now, Key: ik.Audit}); err != nil {
		tb.Fatal(err)
	}
	cfg := e.isConfig
	cfg.URL, cfg.Now = testURL, e.clock.Now
	if cfg.RecordsKey == nil {
		cfg.RecordsKey = ik.Records
	}
	if e.is, err = New(db, e.ks, e.status, e.audit, cfg); err != nil {
		tb.Fatal(err)
	}
}

// reopen closes the database and opens every component again, as a
// restart of the process does.
func (e *env) reopen(tb testing.TB) {
	tb.Helper()
	if err := e.db.Close(); err != nil {
		tb.Fatal(err)
	}
	e.open(tb)
	var err error
	if e.adminP, err = e.is.Principal(context.Background(), e.admin.DID); err != nil {
		tb.Fatal(err)
	}
	if e.orchP, err = e.is.Principal(context.Background(), e.orch.DID); err != nil {
		tb.Fatal(err)
	}
}

func (e *env) newAgent(tb testing.TB) *verifiertest.Agent {
	tb.Helper()
	return verifiertest.NewAgent(tb, e.keys)
}

// addPrincipal registers p and returns the stored record.
func (e *env) addPrincipal(tb testing.TB, actor *Principal, p Principal) *Principal {
	tb.Helper()
	ctx := context.Background()
	if _, err := e.is.AddPrincipal(ctx, actor, p); err != nil {
		tb.Fatalf("AddPrincipal(%s): %v", p.Role, err)
	}
	got, err := e.is.Principal(ctx, p.DID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// newOrchestrator registers an orchestrator with its own key.
func (e *env) newOrchestrator(tb testing.TB, p Principal) (*verifiertest.Agent, *Principal) {
	tb.Helper()
	a := e.newAgent(tb)
	p.DID, p.Role = a.DID, RoleOrchestrator
	if len(p.Ceiling) == 0 {
		p.Ceiling = []string{"calendar:*"}
	}
	return a, e.addPrincipal(tb, e.adminP, p)
}

// proof is a proof of control by a over a fresh issuer nonce, made for
// the test orchestrator.
func (e *env) proof(tb testing.TB, a *verifiertest.Agent) string {
	tb.Helper()
	return e.proofFor(tb, a, e.orch.DID)
}

// proofFor is a proof of control by a made for principal.
func (e *env) proofFor(tb testing.TB, a *verifiertest.Agent, principal string) string {
	tb.Helper()
	return a.Present(tb, "", testURL, "", "", e.clock.Now(), func(p *vc.Presentation) { p.Nonce, p.For = e.is.Nonce(), principal })
}

// request is a valid issue request for a within the orchestrator ceiling.
func (e *env) request(tb testing.TB, a *verifiertest.Agent) IssueRequest {
	tb.Helper()
	return IssueRequest{
		Agent:     a.DID,
		Proof:     e.proof(tb, a),
		Scopes:    []string{"calendar:read"},
		Audiences: []string{calendarAPI},
		Owner:     "team-payments",
		Purpose:   "summarise meeting notes",
	}
}

// issue registers a fresh agent through actor and returns it with its
// credential.
func (e *env) issue(tb testing.TB, actor *Principal, mod func(*IssueRequest)) (*verifiertest.Agent, *Issued) {
	tb.Helper()
	a := e.newAgent(tb)
	r := e.request(tb, a)
	if actor != nil && actor.DID != e.orch.DID {
		r.Proof = e.proofFor(tb, a, actor.DID)
	}
	if mod != nil {
		mod(&r)
	}
	iss, err := e.is.Issue(context.Background(), actor, r)
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	return a, iss
}

// refreshVP is a's presentation of cred to the refresh endpoint.
func (e *env) refreshVP(tb testing.TB, a *verifiertest.Agent, cred string) string {
	tb.Helper()
	return a.Present(tb, cred, testURL, "POST", refreshURL, e.clock.Now(), nil)
}

// requestVP is a principal's request presentation for method and url.
func (e *env) requestVP(tb testing.TB, a *verifiertest.Agent, method, url string) string {
	tb.Helper()
	return a.Present(tb, "", testURL, method, url, e.clock.Now(), nil)
}

// wantErr checks that err is an *Error with exactly status and code.
func wantErr(tb testing.TB, err error, status Kind, code Code) *Error {
	tb.Helper()
	if err == nil {
		tb.Fatalf("err = nil, want %v %s", status, code)
	}
	var ie *Error
	if !errors.As(err, &ie) {
		tb.Fatalf("err = %v (%T), want *issuer.Error %v %s", err, err, status, code)
	}
	if ie.Code != code || ie.Kind != status {
		tb.Fatalf("err = %v %s (%v), want %v %s", ie.Kind, ie.Code, err, status, code)
	}
	return ie
}

// events returns the audit events that f selects.
func (e *env) events(tb testing.TB, f audit.Filter) []audit.Event {
	tb.Helper()
	var out []audit.Event
	if err := e.audit.Query(context.Background(), f, func(ev *audit.Event) error {
		out = append(out, *ev)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

// verifyAudit checks the hash chain of the audit log.
func (e *env) verifyAudit(tb testing.TB) *audit.VerifyReport {
	tb.Helper()
	rep, err := e.audit.Verify(context.Background())
	if err != nil {
		tb.Fatalf("audit chain: %v", err)
	}
	if !rep.OK() {
		tb.Fatalf("audit chain: %+v", rep.Errors)
	}
	return rep
}

// count returns the number of records in one of the issuer's buckets.
func (e *env) count(tb testing.TB, bucket string) int {
	tb.Helper()
	n := 0
	if err := e.db.View(context.Background(), func(tx store.Tx) error {
		return tx.Bucket(bucket).Range(nil, func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}

// credential reads the issuer's record of credential id.
func (e *env) credential(tb testing.TB, id string) (Credential, bool) {
	tb.Helper()
	var c credentialRecord
	var ok bool
	if err := e.is.db.View(context.Background(), func(tx store.Tx) error {
		var err error
		ok, err = getJSON(tx, bucketCredentials, id, &c)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return *c.credential(), ok
}

// parse decodes a credential without verifying it.
func parse(tb testing.TB, tok string) *vc.Credential {
	tb.Helper()
	pc, err := vc.ParseCredential(tok)
	if err != nil {
		tb.Fatal(err)
	}
	return pc.Credential
}

// bit reads a status bit; it fails the test if the entry was never
// allocated by the store.
func (e *env) bit(tb testing.TB, entry vc.StatusEntry) bool {
	tb.Helper()
	set, err := e.status.Status(context.Background(), entry)
	if err != nil {
		tb.Fatalf("status of %s: %v", entry.ID, err)
	}
	return set
}

// entry returns the status entry of a credential for purpose.
func entry(tb testing.TB, c *vc.Credential, purpose statuslist.Purpose) vc.StatusEntry {
	tb.Helper()
	for _, s := range c.CredentialStatus {
		if s.StatusPurpose == string(purpose) {
			return s
		}
	}
	tb.Fatalf("credential %s has no %s entry", c.ID, purpose)
	return vc.StatusEntry{}
}

// purposes are the two status purposes every credential carries.
var purposes = []statuslist.Purpose{statuslist.Revocation, statuslist.Suspension}

// kindCode returns the kind and code of a refusal (0 and "" otherwise).
func kindCode(err error) (Kind, Code, string) {
	if e, ok := Refusal(err); ok {
		return e.Kind, e.Code, e.Detail
	}
	return 0, "", ""
}
