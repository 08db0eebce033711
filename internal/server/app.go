// Package server wires agentid's packages into the `agentid serve`
// process: it opens the data directory (the store, master key, keystore,
// status lists, audit log), initialises an empty one, and serves the issuer
// API, the status lists and their change feed, the verifier service and
// the operational endpoints with gin. It holds no policy: every decision
// is the issuer's.
package server

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/store/pgstore"
	"github.com/agentid/agentid/vc/jws"
)

// File names in the data directory.
const (
	DBFile        = "agentid.db"
	MasterKeyFile = "master.key"
	AdminKeyFile  = "admin.jwk"
)

// Config configures the application.
type Config struct {
	DataDir string
	// IssuerURL is the public base URL; the issuer DID derives from it.
	IssuerURL string
	// KeyAlg is the issuer key algorithm at initialisation (EdDSA default).
	KeyAlg keystore.Algorithm
	// DefaultTTL and MaxTTL bound credential lifetimes (15m, 1h).
	DefaultTTL, MaxTTL time.Duration
	// StatusTTL is the status lists' ttl (5m).
	StatusTTL time.Duration
	// AllowHTTPLocalhost lets the verifier resolve did:web:localhost over
	// plain http (local development). It takes effect only when IssuerURL
	// itself is http://localhost...: an https issuer never fetches plain
	// http.
	AllowHTTPLocalhost bool
	// TrustedIssuers are further issuer DIDs the verifier service accepts,
	// beside this issuer.
	TrustedIssuers []string
	Logger         *slog.Logger
	Now            func() time.Time
	// HeadInterval is how often the audit chain head is signed (when it
	// moved) and kept as the anchor of the next start's check: 1m by
	// default, negative to sign only on demand and at start.
	HeadInterval time.Duration
	// AllowIntegrityFailure starts the server even when the start-up
	// integrity check fails (the audit chain or a record MAC does not
	// verify), so that admins can read and export what is there; the
	// failure is logged at error level and /readyz answers 503. Without
	// it, Open refuses with an error wrapping ErrIntegrity.
	AllowIntegrityFailure bool
	// WrapStore, when set, wraps the opened store before anything uses it
	// (fault injection in tests, instrumentation). The server's readiness
	// tracking wraps the result.
	WrapStore func(store.Store) store.Store
	// AuditSyncInterval bounds how long an acknowledged verification
	// decision may wait in the audit journal before fdatasync
	// (auditlog.DefaultSyncInterval by default): see docs/audit.md.
	AuditSyncInterval time.Duration
	// Audit retention (docs/audit.md, "Retention"): the log in the
	// database is sealed into a segment file of DataDir/audit-segments,
	// its head signed by the issuer key, once its records take
	// AuditSegmentBytes or its first event is AuditSegmentAge old
	// (auditlog.DefaultSegmentBytes and DefaultSegmentAge when 0).
	// AuditKeepSegments and AuditKeepFor, when positive, prune the oldest
	// segment files beyond that count or sealed longer ago.
	AuditSegmentBytes int64
	AuditSegmentAge   time.Duration
	AuditKeepSegments int
	AuditKeepFor      time.Duration
	// AuditRollInterval is how often retention runs: 1m by default,
	// negative for never (RollAudit only). On PostgreSQL it is never by
	// default (see docs/deploy.md).
	AuditRollInterval time.Duration
	// OAuthBearerResources are the resources for which the token endpoint
	// issues short-lived bearer tokens to clients that send no DPoP proof
	// (docs/oauth.md).
	OAuthBearerResources []string
	// OAuthDPoPNonce makes the token endpoint require DPoP server nonces.
	OAuthDPoPNonce bool
	// StoreURL, when set, is a PostgreSQL URL (postgres://…): the store is
	// that database, which several replicas may share, instead of the
	// bbolt file in DataDir. DataDir still holds this replica's master
	// key (or AGENTID_MASTER_KEY gives it), its audit journal and, at
	// initialisation, the first admin's key.
	StoreURL string
}

// JournalDir is the audit journal's directory inside the data directory.
const JournalDir = "audit-journal"

// ErrIntegrity: the start-up check found the audit chain or a stored
// record altered without the master key.
var ErrIntegrity = errors.New("server: integrity check failed: the database was altered without the master key")

// App is an opened data directory.
type App struct {
	cfg       Config
	DB        store.Store
	Keys      *keystore.Store
	Status    *publish.Store
	Publisher *publish.Publisher
	Feed      *publish.Feed
	Audit     *auditlog.Log
	// Refusals aggregates the refusals of unauthenticated callers, of the
	// issuer API and of the verifier service, into one audit event per
	// source, reason and minute.
	Refusals *audit.Aggregator
	Issuer   *issuer.Issuer
	// AdminDID is set when Open created the first admin; its private JWK
	// was written to DataDir/admin.jwk.
	AdminDID string
	// IntegrityErr is the start-up integrity failure, when
	// Config.AllowIntegrityFailure let the server start anyway.
	IntegrityErr error

	log    *slog.Logger
	health *health
	// pg is the PostgreSQL store, when the store is one (postgres.go);
	// replicaName names this replica's audit journal there.
	pg          *pgstore.Store
	replicaName string
	// The replay caches of the issuer's presentations and of the verifier
	// service, kept in the store across restarts.
	replayIssuer, replayVerify replayStore
	stopRefusals               context.CancelFunc
	refusalsDone               chan struct{}
	stopHeads                  chan struct{}
	headsDone                  chan struct{}
	stopRoll                   chan struct{}
	rollDone                   chan struct{}
	stopSweep                  context.CancelFunc
	sweepDone                  chan struct{}

	// dpopNonceKey keys the token endpoint's DPoP server nonces (derived
	// from the master key: the same on every replica).
	dpopNonceKey []byte
	// recordsKey seals the stored records (the issuer's, the status
	// store's, the console's sessions).
	recordsKey []byte
}

// Errors of Open about the data directory. Each is wrapped with the
// path and what to do; none is ever answered by creating a new identity.
var (
	// ErrDamaged: the database file is not a whole bbolt database.
	ErrDamaged = boltstore.ErrDamaged
	// ErrMissingData: the database or the master key is missing (or the
	// database is empty) beside other files of an initialised directory.
	ErrMissingData = errors.New("server: data is missing")
	// ErrIssuerURL: the data directory was initialised for another issuer
	// URL (see ChangeIssuerURL).
	ErrIssuerURL = errors.New("server: issuer URL differs from the data directory's")
)

// IssuerURLError is the error wrapping ErrIssuerURL. Database is set when
// the record is a PostgreSQL database's (--store), which every replica
// shares, rather than a data directory's.
type IssuerURLError struct {
	Stored, Given string
	Database      bool
}

func (e *IssuerURLError) Error() string {
	what := "data directory"
	if e.Database {
		what = "database"
	}
	return fmt.Sprintf("server: the %s was initialised for issuer URL %s, not %s", what, e.Stored, e.Given)
}
func (e *IssuerURLError) Unwrap() error { return ErrIssuerURL }

// The data directory's own record: bucket metaBucket in the database.
const (
	metaBucket = "server.meta"
	// metaState is "pending" from the first commit of an initialisation
	// until its first admin is committed, then "ready".
	metaState     = "state"
	metaIssuerURL = "issuerURL"
	statePending  = "pending"
	stateReady    = "ready"
	// adminTmpSuffix: the first admin's key is written beside its final
	// name and renamed once the admin is committed.
	adminTmpSuffix = ".tmp"
)

// Open opens (and on first use initialises) the data directory.
//
// A directory is initialised in an order that a crash at any point leaves
// either a directory that opens or one that the next Open initialises from
// where it stopped: the database first (marked "pending", with the issuer
// URL), then the master key, the issuer key, the first admin's key file
// (admin.jwk.tmp, synced), the admin's record and the mark "ready" in the
// database, and last the rename to admin.jwk. A directory whose database
// is marked ready (or that an earlier release initialised) is never
// initialised again: a damaged database (ErrDamaged), a missing or empty
// database or a missing master key beside its other files
// (ErrMissingData), or another issuer URL (ErrIssuerURL) are refused.
func Open(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IssuerURL == "" {
		return nil, errors.New("server: issuer URL is required")
	}
	cfg.IssuerURL = strings.TrimSuffix(cfg.IssuerURL, "/")
	dbPath := filepath.Join(cfg.DataDir, DBFile)
	if cfg.StoreURL != "" {
		return openPostgres(ctx, cfg)
	}
	if err := checkFiles(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	// Issuance commits through Batch: a short window (boltstore's 2 ms
	// default) is enough to gather concurrent requests, and a lone request
	// waits at most that.
	db, err := boltstore.Open(dbPath, nil)
	if err != nil {
		if errors.Is(err, boltstore.ErrLocked) {
			return nil, fmt.Errorf("server: %s is in use by another agentid process", dbPath)
		}
		if errors.Is(err, boltstore.ErrDamaged) {
			return nil, fmt.Errorf("server: %w; restore it from a backup", err)
		}
		return nil, fmt.Errorf("server: open database: %w", err)
	}
	return openStore(ctx, cfg, db, nil, "")
}

// openStore opens the application over db, which is pg when the store is
// PostgreSQL: then replica names this process's audit journal, and the
// opening runs while no other replica opens (initialises) the database.
func openStore(ctx context.Context, cfg Config, db store.Store, pg *pgstore.Store, replica string) (*App, error) {
	masterPath := filepath.Join(cfg.DataDir, MasterKeyFile)
	var st store.Store = db
	if cfg.WrapStore != nil {
		st = cfg.WrapStore(st)
	}
	a := &App{cfg: cfg, log: cfg.Logger, health: newHealth(st, cfg.Logger, cfg.Now), pg: pg, replicaName: replica}
	a.DB = a.health
	exclusively := func(do func() error) error { return do() }
	if pg != nil {
		exclusively = func(do func() error) error { return pg.Exclusively(ctx, do) }
	}
	err := exclusively(func() error {
		master, err := a.prepare(ctx, masterPath)
		if err == nil {
			err = a.open(ctx, master)
		}
		return err
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// checkFiles refuses a directory whose database is damaged, or missing
// (or empty) beside the files of an initialised directory. A directory
// with none of them is new.
func checkFiles(dir string) error {
	dbPath := filepath.Join(dir, DBFile)
	err := boltstore.Validate(dbPath)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, boltstore.ErrDamaged):
		return fmt.Errorf("server: %w; restore it from a backup", err)
	case !errors.Is(err, boltstore.ErrEmpty) && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("server: %s: %w", dbPath, err)
	}
	what := "missing"
	if errors.Is(err, boltstore.ErrEmpty) {
		what = "empty"
	}
	var others []string
	for _, f := range []string{MasterKeyFile, AdminKeyFile, AdminKeyFile + adminTmpSuffix} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			others = append(others, f)
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%w: %s is %s beside %s of an initialised data directory; restore it from a backup (a new database would be a new issuer identity)",
			ErrMissingData, dbPath, what, strings.Join(others, ", "))
	}
	return nil
}

// prepare reads or begins the directory's own record and returns the
// master key: an existing one for a directory that holds keys, a new one
// only for a directory being initialised that holds none yet.
func (a *App) prepare(ctx context.Context, masterPath string) (tink.AEAD, error) {
	var state, url string
	err := a.DB.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket(metaBucket)
		state, url = string(b.Get([]byte(metaState))), string(b.Get([]byte(metaIssuerURL)))
		if state != "" {
			return nil
		}
		has, err := hasIssuerData(tx)
		if err != nil || has {
			return err
		}
		// A new directory: the first commit of its initialisation.
		state, url = statePending, a.cfg.IssuerURL
		if err := b.Put([]byte(metaState), []byte(state)); err != nil {
			return err
		}
		return b.Put([]byte(metaIssuerURL), []byte(url))
	})
	if err != nil {
		return nil, fmt.Errorf("server: data directory record: %w", err)
	}
	hasKeys, err := keystore.HasKeysets(ctx, a.DB)
	if err != nil {
		return nil, err
	}
	if state == "" {
		// Initialised by a release that kept no record: adopt the URL it
		// is started with, as it did.
		a.log.Warn("data directory has no record of its issuer URL; recording the one given", "issuerURL", a.cfg.IssuerURL)
		if err := a.setMeta(ctx, stateReady, a.cfg.IssuerURL); err != nil {
			return nil, err
		}
		state, url = stateReady, a.cfg.IssuerURL
	}
	if url != a.cfg.IssuerURL {
		if state == statePending && !hasKeys {
			// Nothing was made for the old URL yet.
			if err := a.setMeta(ctx, statePending, a.cfg.IssuerURL); err != nil {
				return nil, err
			}
		} else {
			return nil, &IssuerURLError{Stored: url, Given: a.cfg.IssuerURL, Database: a.pg != nil}
		}
	}
	if state == statePending && !hasKeys {
		return keystore.Master(masterPath)
	}
	m, err := keystore.LoadMaster(masterPath)
	if errors.Is(err, keystore.ErrNoMasterKey) && a.pg != nil {
		// No agentid.db here: the keys are in the shared database.
		return nil, fmt.Errorf("%w: the master key %s is missing, and the database holds keys it encrypted; copy the first replica's %s here (mode 0600) or set %s; a new key cannot read them",
			ErrMissingData, masterPath, MasterKeyFile, keystore.EnvMasterKey)
	}
	if errors.Is(err, keystore.ErrNoMasterKey) {
		return nil, fmt.Errorf("%w: the master key %s is missing beside %s, which holds keys it encrypted; restore it (or set %s); a new key cannot read them",
			ErrMissingData, masterPath, filepath.Join(a.cfg.DataDir, DBFile), keystore.EnvMasterKey)
	}
	return m, err
}

// hasIssuerData reports whether a database without the directory's record
// holds what an earlier release's initialisation wrote.
func hasIssuerData(tx store.Tx) (bool, error) {
	var has bool
	for _, name := range []string{"keystore.meta", "issuer.principals"} {
		err := tx.Bucket(name).Range(nil, func(_, _ []byte) error {
			has = true
			return store.Stop
		})
		if err != nil || has {
			return has, err
		}
	}
	return false, nil
}

func (a *App) setMeta(ctx context.Context, state, url string) error {
	err := a.DB.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket(metaBucket)
		if err := b.Put([]byte(metaState), []byte(state)); err != nil {
			return err
		}
		return b.Put([]byte(metaIssuerURL), []byte(url))
	})
	if err != nil {
		return fmt.Errorf("server: data directory record: %w", err)
	}
	return nil
}

// ChangeIssuerURL records a new issuer URL for an initialised data
// directory and returns the old one. The issuer's DID derives from its
// URL: credentials, status lists and DID documents issued under the old
// URL name the old DID, and verifiers refuse them (untrusted_issuer) once
// only the new one is trusted.
func ChangeIssuerURL(ctx context.Context, dataDir, newURL string) (old string, err error) {
	newURL = strings.TrimSuffix(newURL, "/")
	if _, err := did.WebDID(newURL); err != nil {
		return "", fmt.Errorf("server: issuer URL %q: %w", newURL, err)
	}
	dbPath := filepath.Join(dataDir, DBFile)
	if err := boltstore.Validate(dbPath); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, boltstore.ErrEmpty) {
			return "", fmt.Errorf("%w: %s is not an initialised data directory (no database)", ErrMissingData, dataDir)
		}
		return "", fmt.Errorf("server: %s: %w", dbPath, err)
	}
	db, err := boltstore.Open(dbPath, nil)
	if err != nil {
		return "", fmt.Errorf("server: open database: %w", err)
	}
	defer db.Close()
	return changeIssuerURL(ctx, db, dataDir, newURL)
}

// changeIssuerURL records newURL in db, the store of what (a data
// directory, a database), and returns the old URL.
func changeIssuerURL(ctx context.Context, db store.Store, what, newURL string) (old string, err error) {
	err = db.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket(metaBucket)
		switch string(b.Get([]byte(metaState))) {
		case stateReady:
		case "":
			// Initialised by a release that kept no record of its URL.
			if has, err := hasIssuerData(tx); err != nil || !has {
				return cmp.Or(err, fmt.Errorf("server: %s is not an initialised data directory (run agentid init first)", what))
			}
			if err := b.Put([]byte(metaState), []byte(stateReady)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("server: %s is not an initialised data directory (run agentid init first)", what)
		}
		old = string(b.Get([]byte(metaIssuerURL)))
		return b.Put([]byte(metaIssuerURL), []byte(newURL))
	})
	return old, err
}

func (a *App) open(ctx context.Context, master tink.AEAD) error {
	var err error
	if a.Keys, err = keystore.Open(a.DB, master, &keystore.Options{Now: a.cfg.Now}); err != nil {
		return err
	}
	ok, err := a.Keys.Exists(ctx, issuer.KeyName)
	if err != nil {
		return err
	}
	if !ok {
		if err := a.Keys.Create(ctx, issuer.KeyName, a.cfg.KeyAlg); err != nil {
			return err
		}
		a.log.Info("created issuer signing key", "alg", string(a.cfg.KeyAlg))
	}
	// The MAC keys of data at rest, derived from the master key (see
	// keystore.IntegrityKeys and docs/audit.md).
	ik, err := a.Keys.IntegrityKeys(ctx)
	if err != nil {
		return err
	}
	a.dpopNonceKey = ik.DPoPNonce
	a.recordsKey = ik.Records
	if a.Status, err = publish.Open(a.DB, publish.Options{BaseURL: a.cfg.IssuerURL, TTL: a.cfg.StatusTTL, Now: a.cfg.Now, RecordsKey: ik.Records}); err != nil {
		return err
	}
	if a.Audit, err = auditlog.Open(a.DB, &auditlog.Options{Now: a.cfg.Now, Key: ik.Audit}); err != nil {
		return err
	}
	// Events recorded through the log as a Sink (the verifier's
	// decisions, refusal aggregates) go through the journal: written to
	// the OS before the reply, fdatasynced within AuditSyncInterval, in
	// the chain moments later. What an earlier process journaled and did
	// not chain is chained now.
	if err := a.Audit.OpenJournal(ctx, filepath.Join(a.cfg.DataDir, JournalDir),
		&auditlog.JournalOptions{SyncInterval: a.cfg.AuditSyncInterval, Name: a.replicaName}); err != nil {
		return err
	}
	a.Refusals = audit.NewAggregator(a.Audit, audit.AggregatorOptions{Now: a.cfg.Now})
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopRefusals, a.refusalsDone = stop, make(chan struct{})
	go func() {
		defer close(a.refusalsDone)
		a.Refusals.Run(rctx)
	}()
	if a.replayIssuer, err = a.openReplay(ctx, bucketReplayIssuer); err != nil {
		return err
	}
	if a.replayVerify, err = a.openReplay(ctx, bucketReplayVerify); err != nil {
		return err
	}
	if a.Issuer, err = issuer.New(a.DB, a.Keys, a.Status, a.Audit, issuer.Config{
		Replay: a.replayIssuer,
		URL:    a.cfg.IssuerURL, DefaultTTL: a.cfg.DefaultTTL, MaxTTL: a.cfg.MaxTTL, Now: a.cfg.Now, Logger: a.log,
		Refusals:   a.Refusals,
		RecordsKey: ik.Records,
		Nonces:     a.sharedNonces(ik.Records),
	}); err != nil {
		return err
	}
	if ik.Created {
		if err := a.migrate(ctx); err != nil {
			return err
		}
	}
	if err := a.checkIntegrity(ctx); err != nil {
		if !a.cfg.AllowIntegrityFailure {
			return err
		}
		a.IntegrityErr = err
		a.log.Error("INTEGRITY CHECK FAILED: starting anyway (AllowIntegrityFailure); not ready until resolved", "err", err)
	}
	a.Feed = publish.NewFeed(publish.FeedOptions{})
	signer := func() jws.Signer {
		s, err := a.Issuer.Signer(context.Background())
		if err != nil {
			return failingSigner{err}
		}
		return s
	}
	if a.Publisher, err = publish.NewPublisher(a.Status, publish.PublisherOptions{Issuer: a.Issuer.DID(), Signer: signer, Feed: a.Feed, Shared: a.pg != nil}); err != nil {
		return err
	}
	have, err := a.Issuer.HasPrincipals(ctx)
	if err != nil && a.IntegrityErr == nil {
		return err
	}
	if !have && err == nil {
		if err := a.createAdmin(ctx); err != nil {
			return err
		}
	}
	if err == nil {
		if err := a.finishInit(ctx); err != nil {
			return err
		}
	}
	if a.IntegrityErr == nil {
		// The anchor of the next start's check.
		if _, _, err := a.Issuer.SignAuditHead(ctx); err != nil {
			return err
		}
		a.startHeadSigner()
		a.startRetention()
		a.startApprovalSweeper()
	}
	return nil
}

// startApprovalSweeper marks requests past their expiry as expired (the
// approval feed says so about a second after) and deletes finished ones
// past their retention (issuer.RunApprovalSweeper).
func (a *App) startApprovalSweeper() {
	ctx, stop := context.WithCancel(context.Background())
	a.stopSweep, a.sweepDone = stop, make(chan struct{})
	go func() {
		defer close(a.sweepDone)
		a.Issuer.RunApprovalSweeper(ctx)
	}()
}

type failingSigner struct{ err error }

func (f failingSigner) Alg() string                 { return jws.AlgEdDSA }
func (f failingSigner) KeyID() string               { return "" }
func (f failingSigner) Sign([]byte) ([]byte, error) { return nil, f.err }

// createAdmin makes the first admin identity: an Ed25519 key whose private
// JWK is written to DataDir/admin.jwk (0600, never overwritten). The key
// is written to admin.jwk.tmp and synced before the admin is committed,
// and renamed after: a crash before the commit leaves a stale .tmp that
// the next attempt overwrites; a crash after it, one that finishAdmin
// renames.
func (a *App) createAdmin(ctx context.Context) error {
	path := filepath.Join(a.cfg.DataDir, AdminKeyFile)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("server: first admin key: %s exists but the database has no principal; move it away if it is not needed", path)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	id, err := did.KeyFromPublic(pub)
	if err != nil {
		return err
	}
	tmp := path + adminTmpSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("server: first admin key: %w", err)
	}
	if err := WriteKeyFile(tmp, priv, id); err != nil {
		return fmt.Errorf("server: first admin key: %w", err)
	}
	if _, err := a.Issuer.AddPrincipal(ctx, nil, issuer.Principal{DID: id, Role: issuer.RoleAdmin, Name: "first admin"}); err != nil {
		return err
	}
	a.AdminDID = id
	return nil
}

// finishInit marks the directory ready and moves a first admin's key file
// committed before a crash (or just now) to its final name.
func (a *App) finishInit(ctx context.Context) error {
	if err := a.setMeta(ctx, stateReady, a.cfg.IssuerURL); err != nil {
		return err
	}
	path := filepath.Join(a.cfg.DataDir, AdminKeyFile)
	tmp := path + adminTmpSuffix
	if _, err := os.Lstat(tmp); err != nil {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("server: first admin key: both %s and %s exist; keep the one whose kid is an admin (agentid principal list)", path, tmp)
	}
	if a.AdminDID == "" {
		a.AdminDID = keyFileDID(tmp)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("server: first admin key: %w", err)
	}
	if d, err := os.Open(a.cfg.DataDir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("server: first admin key: sync %s: %w", a.cfg.DataDir, err)
		}
	}
	a.log.Info("created first admin", "did", a.AdminDID, "key", path)
	return nil
}

// keyFileDID returns the DID of a key file's kid, or "" if unreadable.
func keyFileDID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var k struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &k) != nil {
		return ""
	}
	id, _, _ := strings.Cut(k.Kid, "#")
	return id
}

// WriteKeyFile writes a private key as a JWK with mode 0600, refusing to
// overwrite an existing file. The kid is the key's DID URL.
func WriteKeyFile(path string, priv any, id string) error {
	kid := id
	if strings.HasPrefix(id, "did:key:") {
		kid = id + "#" + strings.TrimPrefix(id, "did:key:")
	}
	k := jose.JSONWebKey{Key: priv, KeyID: kid}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Close writes the pending refusal aggregates and releases the database.
func (a *App) Close() error {
	if a.stopHeads != nil {
		close(a.stopHeads)
		<-a.headsDone
	}
	if a.stopRoll != nil {
		close(a.stopRoll)
		<-a.rollDone
	}
	if a.stopSweep != nil {
		a.stopSweep()
		<-a.sweepDone
	}
	if a.Publisher != nil {
		a.Publisher.Close()
	}
	if a.stopRefusals != nil {
		a.stopRefusals() // Run flushes what is left
		<-a.refusalsDone
	}
	var errs []error
	if a.Audit != nil {
		// Everything journaled goes into the chain before the database
		// closes (what cannot would be chained at the next start).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, a.Audit.Close(ctx))
		cancel()
	}
	for _, j := range []replayStore{a.replayIssuer, a.replayVerify} {
		if j != nil {
			errs = append(errs, j.Close())
		}
	}
	return errors.Join(append(errs, a.DB.Close())...)
}
