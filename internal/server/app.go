// Package server wires agentid's packages into the `agentid serve`
// process: it opens the data directory (the store, master key, keystore,
// status lists, audit log), initialises an empty one, and serves the issuer
// API, the status lists and their change feed, the verifier service and
// the operational endpoints with gin. It holds no policy: every decision
// is the issuer's.
package server

import (
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
	// negative for never (RollAudit only).
	AuditRollInterval time.Duration
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

	log          *slog.Logger
	stopRefusals context.CancelFunc
	refusalsDone chan struct{}
	stopHeads    chan struct{}
	headsDone    chan struct{}
	stopRoll     chan struct{}
	rollDone     chan struct{}
}

// Open opens (and on first use initialises) the data directory.
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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	master, err := keystore.Master(filepath.Join(cfg.DataDir, MasterKeyFile))
	if err != nil {
		return nil, err
	}
	// Issuance commits through Batch: a short window (boltstore's 2 ms
	// default) is enough to gather concurrent requests, and a lone request
	// waits at most that.
	db, err := boltstore.Open(filepath.Join(cfg.DataDir, DBFile), nil)
	if err != nil {
		if errors.Is(err, boltstore.ErrLocked) {
			return nil, fmt.Errorf("server: %s is in use by another agentid process", filepath.Join(cfg.DataDir, DBFile))
		}
		return nil, fmt.Errorf("server: open database: %w", err)
	}
	a := &App{cfg: cfg, DB: db, log: cfg.Logger}
	if err := a.open(ctx, master); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
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
		&auditlog.JournalOptions{SyncInterval: a.cfg.AuditSyncInterval}); err != nil {
		return err
	}
	a.Refusals = audit.NewAggregator(a.Audit, audit.AggregatorOptions{Now: a.cfg.Now})
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopRefusals, a.refusalsDone = stop, make(chan struct{})
	go func() {
		defer close(a.refusalsDone)
		a.Refusals.Run(rctx)
	}()
	if a.Issuer, err = issuer.New(a.DB, a.Keys, a.Status, a.Audit, issuer.Config{
		URL: a.cfg.IssuerURL, DefaultTTL: a.cfg.DefaultTTL, MaxTTL: a.cfg.MaxTTL, Now: a.cfg.Now, Logger: a.log,
		Refusals:   a.Refusals,
		RecordsKey: ik.Records,
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
	if a.Publisher, err = publish.NewPublisher(a.Status, publish.PublisherOptions{Issuer: a.Issuer.DID(), Signer: signer, Feed: a.Feed}); err != nil {
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
	if a.IntegrityErr == nil {
		// The anchor of the next start's check.
		if _, _, err := a.Issuer.SignAuditHead(ctx); err != nil {
			return err
		}
		a.startHeadSigner()
		a.startRetention()
	}
	return nil
}

type failingSigner struct{ err error }

func (f failingSigner) Alg() string                 { return jws.AlgEdDSA }
func (f failingSigner) KeyID() string               { return "" }
func (f failingSigner) Sign([]byte) ([]byte, error) { return nil, f.err }

// createAdmin makes the first admin identity: an Ed25519 key whose private
// JWK is written to DataDir/admin.jwk (0600, never overwritten).
func (a *App) createAdmin(ctx context.Context) error {
	path := filepath.Join(a.cfg.DataDir, AdminKeyFile)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	id, err := did.KeyFromPublic(pub)
	if err != nil {
		return err
	}
	if err := WriteKeyFile(path, priv, id); err != nil {
		return fmt.Errorf("server: first admin key: %w", err)
	}
	if _, err := a.Issuer.AddPrincipal(ctx, nil, issuer.Principal{DID: id, Role: issuer.RoleAdmin, Name: "first admin"}); err != nil {
		return err
	}
	a.AdminDID = id
	a.log.Info("created first admin", "did", id, "key", path)
	return nil
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
	if a.Publisher != nil {
		a.Publisher.Close()
	}
	if a.stopRefusals != nil {
		a.stopRefusals() // Run flushes what is left
		<-a.refusalsDone
	}
	var jerr error
	if a.Audit != nil {
		// Everything journaled goes into the chain before the database
		// closes (what cannot would be chained at the next start).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		jerr = a.Audit.Close(ctx)
		cancel()
	}
	return errors.Join(jerr, a.DB.Close())
}
