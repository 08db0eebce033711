package issuer

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/schemas"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
	"github.com/agentid/agentid/verifier"
)

// KeyName is the keystore name of the issuer's signing keyset.
const KeyName = "issuer"

var (
	bucketPrincipals  = []byte("issuer.principals")
	bucketAgents      = []byte("issuer.agents")
	bucketCredentials = []byte("issuer.credentials")
)

// Config configures an Issuer.
type Config struct {
	// URL is the issuer's public base URL ("https://issuer.example.com" or
	// "http://localhost:8080"). Its did:web DID is derived from it.
	URL string
	// DefaultTTL is a credential's lifetime when none is asked (15 min).
	DefaultTTL time.Duration
	// MaxTTL bounds every credential's lifetime (1 h).
	MaxTTL time.Duration
	// DefaultRegistration is an agent's registration lifetime when none is
	// asked (24 h); MaxRegistration bounds it (30 days).
	DefaultRegistration time.Duration
	MaxRegistration     time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives operational logs (discarded when nil). Secrets are
	// never logged.
	Logger *slog.Logger
}

// Issuer registers principals and agents, issues, refreshes, revokes and
// suspends AgentCredentials, and keeps the inventory. Every state change is
// one durable bbolt transaction that includes its audit event.
type Issuer struct {
	cfg       Config
	did       string
	db        *bbolt.DB
	keys      *keystore.Store
	status    *statuslist.Store
	audit     AuditLog
	schema    *schemas.Validator
	resolver  *localResolver
	principal *verifier.Verifier // authenticates principals: aud = URL, htm/htu
	proof     *verifier.Verifier // checks proofs of control: aud = URL, issuer nonce
	nonces    *verifier.MemoryNonces
	log       *slog.Logger

	seenMu sync.Mutex
	seen   map[string]time.Time
}

// AuditLog is where the issuer writes its audit events: AppendTx inside
// the operation's own transaction (so an operation and its event commit or
// fail together), Append for refusals, which change nothing else.
// *audit.Log implements it.
type AuditLog interface {
	AppendTx(tx *bbolt.Tx, ev *audit.Event) error
	Append(ctx context.Context, ev *audit.Event) error
}

// New returns an Issuer over an open database whose keystore already holds
// the issuer keyset (see Init).
func New(db *bbolt.DB, keys *keystore.Store, status *statuslist.Store, auditLog AuditLog, cfg Config) (*Issuer, error) {
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = 15 * time.Minute
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.DefaultTTL > cfg.MaxTTL {
		return nil, fmt.Errorf("issuer: default TTL %v exceeds maximum %v", cfg.DefaultTTL, cfg.MaxTTL)
	}
	if cfg.DefaultRegistration == 0 {
		cfg.DefaultRegistration = 24 * time.Hour
	}
	if cfg.MaxRegistration == 0 {
		cfg.MaxRegistration = 30 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	id, err := did.WebDID(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("issuer: URL %q: %w", cfg.URL, err)
	}
	schema, err := schemas.NewValidator()
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketPrincipals, bucketAgents, bucketCredentials} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("issuer: open buckets: %w", err)
	}
	is := &Issuer{cfg: cfg, did: id, db: db, keys: keys, status: status, audit: auditLog, schema: schema,
		nonces: verifier.NewMemoryNonces(5*time.Minute, 100_000), log: cfg.Logger, seen: map[string]time.Time{}}
	is.resolver = &localResolver{is: is, other: did.NewMultiResolver(nil)}
	if _, err := is.resolver.refresh(context.Background()); err != nil {
		return nil, err
	}
	local := &localStatus{is: is}
	common := []verifier.Option{verifier.WithKeyResolver(is.resolver), verifier.WithTrustedIssuers(id),
		verifier.WithStatusChecker(local), verifier.WithClock(cfg.Now), verifier.WithAudience(cfg.URL)}
	if is.principal, err = verifier.New(append(common, verifier.WithRequiredRequestBinding())...); err != nil {
		return nil, err
	}
	if is.proof, err = verifier.New(append(common, verifier.WithRequiredNonce(is.nonces))...); err != nil {
		return nil, err
	}
	return is, nil
}

// DID returns the issuer's did:web DID.
func (is *Issuer) DID() string { return is.did }

// URL returns the issuer's base URL.
func (is *Issuer) URL() string { return is.cfg.URL }

// KeyResolver resolves the issuer's own keys from its keystore and did:key
// and did:jwk locally; the verifier service in the same process uses it.
func (is *Issuer) KeyResolver() vc.KeyResolver { return is.resolver }

// StatusChecker reads status bits straight from the issuer's store.
func (is *Issuer) StatusChecker() verifier.StatusChecker { return &localStatus{is: is} }

// Nonce issues a single-use nonce for a proof of control.
func (is *Issuer) Nonce() string { return is.nonces.Issue(is.cfg.Now()) }

// Signer returns a signer for the current primary key, with a DID URL kid.
func (is *Issuer) Signer(ctx context.Context) (jws.Signer, error) {
	s, err := is.keys.Signer(ctx, KeyName)
	if err != nil {
		return nil, fmt.Errorf("issuer: signer: %w", err)
	}
	return &didSigner{Signer: s, kid: is.did + "#" + s.KeyID()}, nil
}

type didSigner struct {
	*keystore.Signer
	kid string
}

func (s *didSigner) KeyID() string { return s.kid }

// DIDDocument returns the issuer's DID document: every non-retired key as
// a JsonWebKey verification method under assertionMethod.
func (is *Issuer) DIDDocument(ctx context.Context) (*did.Document, error) {
	pubs, err := is.keys.PublicKeys(ctx, KeyName)
	if err != nil {
		return nil, fmt.Errorf("issuer: keys: %w", err)
	}
	wk := make([]did.WebKey, len(pubs))
	for i, p := range pubs {
		wk[i] = did.WebKey{ID: p.KID, Public: p.Public}
	}
	return did.NewWebDocument(is.did, wk), nil
}

// Keys lists the issuer's non-retired public keys, primary first.
func (is *Issuer) Keys(ctx context.Context) ([]keystore.PublicKey, error) {
	return is.keys.PublicKeys(ctx, KeyName)
}

// RotateKey makes a new primary signing key. Credentials signed by earlier
// keys keep verifying until those keys are retired.
func (is *Issuer) RotateKey(ctx context.Context, actor *Principal) (keystore.PublicKey, error) {
	if actor.Role != RoleAdmin {
		return keystore.PublicKey{}, is.deny(ctx, actor, audit.ActionKeyRotate, "", "", fail(http.StatusForbidden, CodeForbidden, "only admins rotate keys"))
	}
	pk, err := is.keys.Rotate(ctx, KeyName)
	if err != nil {
		return keystore.PublicKey{}, fmt.Errorf("issuer: rotate: %w", err)
	}
	if _, err := is.resolver.refresh(ctx); err != nil {
		return keystore.PublicKey{}, err
	}
	if err := is.audit.Append(ctx, &audit.Event{Time: is.cfg.Now().UTC(), Actor: actor.DID, Action: audit.ActionKeyRotate,
		Resource: is.did + "#" + pk.KID, Decision: audit.DecisionAllow}); err != nil {
		return keystore.PublicKey{}, fmt.Errorf("issuer: audit: %w", err)
	}
	return pk, nil
}

// localResolver resolves the issuer's own DID from the keystore (no HTTP
// round trip to itself) and every other DID through a MultiResolver.
type localResolver struct {
	is    *Issuer
	other *did.MultiResolver
	mu    sync.RWMutex
	own   map[string]crypto.PublicKey
	// lastMiss rate-limits keystore reads on unknown own kids, so that
	// tokens naming made-up kids cannot make every request read it.
	lastMiss time.Time
}

func (r *localResolver) refresh(ctx context.Context) (map[string]crypto.PublicKey, error) {
	pubs, err := r.is.keys.PublicKeys(ctx, KeyName)
	if err != nil {
		return nil, fmt.Errorf("issuer: keys: %w", err)
	}
	m := make(map[string]crypto.PublicKey, len(pubs))
	for _, p := range pubs {
		m[r.is.did+"#"+p.KID] = p.Public
	}
	r.mu.Lock()
	r.own = m
	r.mu.Unlock()
	return m, nil
}

// ResolveKey implements vc.KeyResolver.
func (r *localResolver) ResolveKey(ctx context.Context, kid string, rel did.Relationship) (crypto.PublicKey, error) {
	if strings.HasPrefix(kid, r.is.did+"#") {
		if rel != did.AssertionMethod && rel != did.Authentication {
			return nil, reason.New(reason.UnknownKey, "issuer key is not a "+string(rel)+" method")
		}
		r.mu.RLock()
		k, ok := r.own[kid]
		r.mu.RUnlock()
		if !ok {
			// A key rotated in by another Store on this database, or a
			// moment ago: read the keystore (at most once a second)
			// before refusing.
			r.mu.Lock()
			stale := time.Since(r.lastMiss) > time.Second
			if stale {
				r.lastMiss = time.Now()
			}
			r.mu.Unlock()
			if !stale {
				return nil, reason.New(reason.UnknownKey, "not a current issuer key")
			}
			own, err := r.refresh(ctx)
			if err != nil {
				return nil, reason.Wrap(reason.UnknownKey, "issuer keys", err)
			}
			if k, ok = own[kid]; !ok {
				return nil, reason.New(reason.UnknownKey, "not a current issuer key")
			}
		}
		return k, nil
	}
	return r.other.ResolveKey(ctx, kid, rel)
}

// localStatus reads status bits from the issuer's own store.
type localStatus struct{ is *Issuer }

func (l *localStatus) Check(ctx context.Context, iss string, entries []vc.StatusEntry) error {
	if iss != l.is.did {
		return reason.New(reason.StatusUnavailable, "status of another issuer's credential")
	}
	if len(entries) == 0 {
		return reason.New(reason.StatusUnavailable, "credential has no status entries")
	}
	for _, e := range entries {
		set, err := l.is.status.Status(ctx, e)
		if err != nil {
			return reason.Wrap(reason.StatusUnavailable, "status list", err)
		}
		if set {
			switch statuslist.Purpose(e.StatusPurpose) {
			case statuslist.Revocation:
				return reason.New(reason.Revoked, "credential is revoked")
			case statuslist.Suspension:
				return reason.New(reason.Suspended, "credential is suspended")
			default:
				return reason.New(reason.StatusUnavailable, "unknown status purpose")
			}
		}
	}
	return nil
}

// Authenticate checks a principal's request presentation (no credential,
// aud = issuer URL, htm/htu bound to this request, fresh jti) and returns
// the registered principal.
func (is *Issuer) Authenticate(ctx context.Context, presentation, method, url string) (*Principal, error) {
	p, err := is.principal.VerifyHolder(ctx, presentation, verifier.Request{Method: method, URL: url})
	if err != nil {
		e := fromReason(err, http.StatusUnauthorized)
		is.auditDeny(ctx, "", "authenticate", "", "", e)
		return nil, e
	}
	if len(p.VerifiableCredential) != 0 {
		e := fail(http.StatusUnauthorized, string(reason.Malformed), "a principal's request presentation carries no credential")
		is.auditDeny(ctx, p.HolderDID(), "authenticate", "", "", e)
		return nil, e
	}
	pr, err := is.Principal(ctx, p.HolderDID())
	if err != nil {
		e := fail(http.StatusUnauthorized, CodeUnknownPrincipal, "%s is not a registered principal", p.HolderDID())
		is.auditDeny(ctx, p.HolderDID(), "authenticate", "", "", e)
		return nil, e
	}
	return pr, nil
}

// Principal returns a registered principal.
func (is *Issuer) Principal(ctx context.Context, id string) (*Principal, error) {
	var p *Principal
	err := is.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPrincipals).Get([]byte(id))
		if b == nil {
			return fail(http.StatusNotFound, CodeUnknownPrincipal, "no principal %s", id)
		}
		p = new(Principal)
		return json.Unmarshal(b, p)
	})
	return p, err
}

// Principals lists registered principals.
func (is *Issuer) Principals(ctx context.Context) ([]Principal, error) {
	var out []Principal
	err := is.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPrincipals).ForEach(func(_, v []byte) error {
			var p Principal
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("issuer: corrupt principal record: %w", err)
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// AddPrincipal registers an admin or orchestrator. actor nil means the
// system itself (first start).
func (is *Issuer) AddPrincipal(ctx context.Context, actor *Principal, p Principal) error {
	actorDID := "system"
	if actor != nil {
		actorDID = actor.DID
		if actor.Role != RoleAdmin {
			return is.deny(ctx, actor, audit.ActionPrincipalAdd, p.DID, "", fail(http.StatusForbidden, CodeForbidden, "only admins register principals"))
		}
	}
	if err := is.checkPrincipal(&p); err != nil {
		return is.deny(ctx, actor, audit.ActionPrincipalAdd, p.DID, "", err)
	}
	p.CreatedAt = is.cfg.Now().UTC().Truncate(time.Second)
	p.CreatedBy = actorDID
	err := is.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPrincipals)
		if b.Get([]byte(p.DID)) != nil {
			return fail(http.StatusConflict, CodePrincipalExists, "%s is already registered", p.DID)
		}
		v, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(p.DID), v); err != nil {
			return err
		}
		return is.audit.AppendTx(tx, &audit.Event{Time: p.CreatedAt, Actor: actorDID, Action: audit.ActionPrincipalAdd,
			Subject: p.DID, Scopes: p.Ceiling, Decision: audit.DecisionAllow, Detail: "role " + string(p.Role)})
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return is.deny(ctx, actor, audit.ActionPrincipalAdd, p.DID, "", e)
		}
		return fmt.Errorf("issuer: add principal: %w", err)
	}
	return nil
}

func (is *Issuer) checkPrincipal(p *Principal) *Error {
	if _, err := did.PublicKeyFromKey(p.DID); err != nil {
		if _, err2 := did.PublicKeyFromJWK(p.DID); err2 != nil {
			return badRequest("principal DID must be a valid did:key or did:jwk")
		}
	}
	if p.Role != RoleAdmin && p.Role != RoleOrchestrator {
		return badRequest("role must be admin or orchestrator")
	}
	if p.Role == RoleOrchestrator && len(p.Ceiling) == 0 {
		return badRequest("an orchestrator needs a scope ceiling")
	}
	for _, c := range p.Ceiling {
		if !validCeiling(c) {
			return badRequest("ceiling entry %q is not resource:action or resource:*", c)
		}
	}
	if p.MaxTTL < 0 || time.Duration(p.MaxTTL) > is.cfg.MaxTTL {
		return fail(http.StatusBadRequest, CodeLifetimeExceeds, "maxTtl must be within (0, %v]", is.cfg.MaxTTL)
	}
	if len(p.Name) > 256 {
		return badRequest("name is too long")
	}
	return nil
}

// RemovePrincipal unregisters a principal. The last admin cannot be
// removed.
func (is *Issuer) RemovePrincipal(ctx context.Context, actor *Principal, id string) error {
	if actor.Role != RoleAdmin {
		return is.deny(ctx, actor, audit.ActionPrincipalRemove, id, "", fail(http.StatusForbidden, CodeForbidden, "only admins remove principals"))
	}
	err := is.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPrincipals)
		v := b.Get([]byte(id))
		if v == nil {
			return fail(http.StatusNotFound, CodeUnknownPrincipal, "no principal %s", id)
		}
		var p Principal
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		if p.Role == RoleAdmin {
			admins := 0
			_ = b.ForEach(func(_, v []byte) error {
				var q Principal
				if json.Unmarshal(v, &q) == nil && q.Role == RoleAdmin {
					admins++
				}
				return nil
			})
			if admins <= 1 {
				return fail(http.StatusConflict, CodeLastAdmin, "the last admin cannot be removed")
			}
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		return is.audit.AppendTx(tx, &audit.Event{Time: is.cfg.Now().UTC(), Actor: actor.DID, Action: audit.ActionPrincipalRemove,
			Subject: id, Decision: audit.DecisionAllow})
	})
	var e *Error
	if errors.As(err, &e) {
		return is.deny(ctx, actor, audit.ActionPrincipalRemove, id, "", e)
	}
	if err != nil {
		return fmt.Errorf("issuer: remove principal: %w", err)
	}
	return nil
}

// deny records a refused operation in the audit trail and returns err. If
// the audit event cannot be written, that failure is returned instead.
func (is *Issuer) deny(ctx context.Context, actor *Principal, action, subject, credential string, err *Error) error {
	a := ""
	if actor != nil {
		a = actor.DID
	}
	if aerr := is.auditDeny(ctx, a, action, subject, credential, err); aerr != nil {
		return aerr
	}
	return err
}

func (is *Issuer) auditDeny(ctx context.Context, actor, action, subject, credential string, e *Error) error {
	err := is.audit.Append(ctx, &audit.Event{Time: is.cfg.Now().UTC(), Actor: actor, Action: action,
		Subject: subject, Credential: credential, Decision: audit.DecisionDeny, Reason: e.Code, Detail: e.Detail})
	if err != nil {
		is.log.Error("audit write failed", "action", action, "err", err)
		return fmt.Errorf("issuer: audit: %w", err)
	}
	return nil
}
