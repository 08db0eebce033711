package issuer

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/recordmac"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/schemas"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
	"github.com/agentid/agentid/verifier"
)

// KeyName is the keystore name of the issuer's signing keyset.
const KeyName = "issuer"

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
	// RefreshInterval and RefreshBurst limit each agent's refreshes: a
	// burst of RefreshBurst, then one per RefreshInterval (30 s and 5).
	// Refusals carry CodeRateLimited and the wait.
	RefreshInterval time.Duration
	RefreshBurst    int
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger receives operational logs (discarded when nil). Secrets are
	// never logged.
	Logger *slog.Logger
	// Refusals counts the refusals of unauthenticated callers (kind
	// KindUnauthenticated) and writes one audit event per source, reason
	// and minute instead of one per refusal. Nil means an aggregator over
	// the issuer's own audit log; pass one to share it with a verifier
	// service writing to the same log. See [Issuer.FlushRefusals].
	Refusals *audit.Aggregator
	// RecordsKey authenticates the principal, agent and credential records
	// at rest (keystore.IntegrityKeys.Records): each is sealed with a MAC
	// bound to its bucket and key, and one that fails it is refused with
	// CodeRecordTampered. Nil keeps records unauthenticated, as earlier
	// releases stored them (tests, tools without the master key).
	RecordsKey []byte
	// Replay is the replay cache of every presentation addressed to the
	// issuer (principal calls, refreshes, proofs of control). Nil: a
	// verifier.MemoryReplayCache, which a restart empties; the server
	// passes one that outlives the process.
	Replay verifier.ReplayCache
	// ApprovalTTL is how long a request that needs approval waits for a
	// decision (DefaultApprovalTTL, 15 min).
	ApprovalTTL time.Duration
	// ApprovalRetention is how long a decided or expired request is kept
	// (DefaultApprovalRetention, 7 days); the audit log keeps its history.
	ApprovalRetention time.Duration
	// Nonces issues and consumes the nonces of proofs of control. Nil: a
	// verifier.MemoryNonces of this process; replicas sharing a database
	// pass one they share, so that a nonce issued by one is accepted,
	// once, by any.
	Nonces verifier.NonceStore
}

// Issuer registers principals and agents, issues, refreshes, revokes and
// suspends AgentCredentials, and keeps the inventory. Every state change is
// one durable store transaction that includes its audit event.
type Issuer struct {
	cfg       Config
	did       string
	db        store.Store
	keys      *keystore.Store
	status    *publish.Store
	audit     AuditLog
	schema    *schemas.Validator
	resolver  *localResolver
	principal *verifier.Verifier // authenticates principals: aud = URL, htm/htu
	refresher *verifier.Verifier // checks refresh presentations: as principal, plus the credential
	proof     *verifier.Verifier // checks proofs of control: aud = URL, issuer nonce
	nonces    verifier.NonceStore
	replay    *verifier.MemoryReplayCache // the default Config.Replay (nil when one is given)
	refusals  *audit.Aggregator
	log       *slog.Logger
	seal      *recordmac.Sealer

	seenMu sync.Mutex
	seen   map[string]time.Time

	approvals approvalHub
}

// AuditLog is where the issuer writes its audit events and reads them back
// for admins: AppendTx inside the operation's own transaction (so an
// operation and its event commit or fail together), Append for refusals,
// which change nothing else. *auditlog.Log implements it.
type AuditLog interface {
	AppendTx(tx store.Tx, ev *audit.Event) error
	Append(ctx context.Context, ev *audit.Event) error
	Query(ctx context.Context, f audit.Filter, fn func(*audit.Event) error) error
	Export(ctx context.Context, f audit.Filter, w io.Writer) error
	Summary(ctx context.Context, since time.Time, opts audit.SummaryOptions) (*audit.Summary, error)
	Verify(ctx context.Context) (*audit.VerifyReport, error)
	Head(ctx context.Context) (uint64, string, error)
}

// New returns an Issuer over a store whose keystore already holds the
// issuer keyset named KeyName.
func New(db store.Store, keys *keystore.Store, status *publish.Store, auditLog AuditLog, cfg Config) (*Issuer, error) {
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
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 30 * time.Second
	}
	if cfg.RefreshBurst == 0 {
		cfg.RefreshBurst = 5
	}
	if cfg.RefreshInterval < 0 || cfg.RefreshBurst < 0 {
		return nil, fmt.Errorf("issuer: negative refresh limit")
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
	var seal *recordmac.Sealer
	if cfg.RecordsKey != nil {
		if seal, err = recordmac.New(cfg.RecordsKey); err != nil {
			return nil, fmt.Errorf("issuer: %w", err)
		}
	}
	is := &Issuer{cfg: cfg, did: id, db: sealedDB{db, seal}, seal: seal, keys: keys, status: status, audit: auditLog, schema: schema,
		nonces: cfg.Nonces, log: cfg.Logger, seen: map[string]time.Time{}}
	if is.nonces == nil {
		is.nonces = verifier.NewMemoryNonces(5*time.Minute, 100_000)
	}
	is.refusals = cfg.Refusals
	if is.refusals == nil {
		is.refusals = audit.NewAggregator(appendSink{auditLog}, audit.AggregatorOptions{Now: cfg.Now})
	}
	is.resolver = &localResolver{is: is, other: did.NewMultiResolver(nil)}
	if _, err := is.resolver.refresh(context.Background()); err != nil {
		return nil, err
	}
	// One replay cache for every presentation addressed to the issuer.
	var replay verifier.ReplayCache = cfg.Replay
	if replay == nil {
		is.replay = verifier.NewMemoryReplayCache(0)
		replay = is.replay
	}
	common := []verifier.Option{verifier.WithKeyResolver(is.resolver), verifier.WithTrustedIssuers(id),
		verifier.WithStatusChecker(is.StatusChecker()), verifier.WithClock(cfg.Now), verifier.WithAudience(cfg.URL),
		verifier.WithReplayCache(replay)}
	if is.principal, err = verifier.New(append(common, verifier.WithRequiredRequestBinding())...); err != nil {
		return nil, err
	}
	if is.refresher, err = verifier.New(append(common, verifier.WithRequiredRequestBinding(), verifier.WithIssuerAudience())...); err != nil {
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

// Now returns the issuer's clock reading.
func (is *Issuer) Now() time.Time { return is.cfg.Now() }

// KeyResolver resolves the issuer's own keys from its keystore and did:key
// and did:jwk locally; the verifier service in the same process uses it.
func (is *Issuer) KeyResolver() vc.KeyResolver { return is.resolver }

// StatusChecker reads status bits straight from the issuer's store.
func (is *Issuer) StatusChecker() verifier.StatusChecker { return &localStatus{is: is} }

// FlushRefusals writes every aggregate of unauthenticated refusals
// counted so far, ended or not (see Config.Refusals): call it before the
// audit log closes.
func (is *Issuer) FlushRefusals(ctx context.Context) error { return is.refusals.Flush(ctx) }

// recordDecision records an event that changes no state (a decision):
// through the log's Record where it has one (the audit journal: written
// before the reply, durable within the journal's window, chained moments
// later), else Append.
func (is *Issuer) recordDecision(ctx context.Context, ev *audit.Event) error {
	if r, ok := is.audit.(audit.Sink); ok {
		return r.Record(ctx, ev)
	}
	return is.audit.Append(ctx, ev)
}

// appendSink records through an AuditLog's Append.
type appendSink struct{ log AuditLog }

func (s appendSink) Record(ctx context.Context, ev *audit.Event) error { return s.log.Append(ctx, ev) }

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

// signerTx is Signer inside tx: the primary key as of tx's snapshot, read
// without a transaction of its own (keystore.Store.SignerTx).
func (is *Issuer) signerTx(tx store.Tx) (jws.Signer, error) {
	s, err := is.keys.SignerTx(tx, KeyName)
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

// RotateKey makes a new primary signing key (admins only). The new key and
// its audit event commit in one transaction. Credentials signed by earlier
// keys keep verifying until those keys are retired.
func (is *Issuer) RotateKey(ctx context.Context, actor *Principal) (keystore.PublicKey, error) {
	var pk keystore.PublicKey
	err := is.guard(ctx, is.event(actor, audit.ActionKeyRotate), func(ev *audit.Event) error {
		if actor.Role != RoleAdmin {
			return fail(KindForbidden, CodeForbidden, "only admins rotate keys")
		}
		err := is.db.Update(ctx, func(tx store.Tx) error {
			var err error
			if pk, err = is.keys.RotateTx(tx, KeyName); err != nil {
				return err
			}
			done := *ev
			done.Resource, done.Decision = is.did+"#"+pk.KID, audit.DecisionAllow
			return is.audit.AppendTx(tx, &done)
		})
		if err != nil {
			return fmt.Errorf("issuer: rotate: %w", err)
		}
		_, err = is.resolver.refresh(ctx)
		return err
	})
	return pk, err
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
// aud = issuer URL, htm/htu bound to this request, fresh jti, and when the
// presentation carries the agentid "htd" claim, the request body: see
// BodyDigest) and returns the registered principal. body is the request
// body (nil for none).
func (is *Issuer) Authenticate(ctx context.Context, presentation, method, url string, body []byte) (*Principal, error) {
	var pr *Principal
	err := is.guard(ctx, &audit.Event{Action: "authenticate"}, func(ev *audit.Event) error {
		// The jti is recorded only once the holder is known to be a
		// principal: anyone can mint a key, and a presentation refused
		// here must take no room in the replay cache the principals share.
		var refused error
		_, err := is.principal.AuthenticateHolder(ctx, presentation, verifier.Request{Method: method, URL: url},
			func(ctx context.Context, p *vc.Presentation) error {
				refused = is.admitPrincipal(ctx, ev, p, body, &pr)
				return refused
			})
		switch {
		case err == nil:
			return nil
		case refused != nil:
			return refused
		default:
			return fromReason(err, KindUnauthenticated)
		}
	})
	return pr, err
}

// admitPrincipal looks up the holder of an authenticated request
// presentation among the registered principals.
func (is *Issuer) admitPrincipal(ctx context.Context, ev *audit.Event, p *vc.Presentation, body []byte, out **Principal) error {
	ev.Actor = p.HolderDID()
	if len(p.VerifiableCredential) != 0 {
		return fail(KindUnauthenticated, Code(reason.Malformed), "a principal's request presentation carries no credential")
	}
	if p.Htd != "" && subtle.ConstantTimeCompare([]byte(p.Htd), []byte(BodyDigest(body))) != 1 {
		return fail(KindUnauthenticated, Code(reason.RequestMismatch), "htd does not match the request body")
	}
	pr, err := is.Principal(ctx, p.HolderDID())
	if err != nil {
		if e, ok := Refusal(err); ok && e.Code == CodeUnknownPrincipal {
			return fail(KindUnauthenticated, CodeUnknownPrincipal, "%s is not a registered principal", p.HolderDID())
		}
		if e, ok := Refusal(err); ok && e.Code == CodeRecordTampered {
			// A forged or edited principal record authenticates no one.
			is.log.Error("integrity: refused a principal record that fails its MAC", "principal", p.HolderDID())
			return &Error{Kind: KindUnauthenticated, Code: CodeRecordTampered, Detail: e.Detail}
		}
		return err
	}
	*out = pr
	return nil
}

// BodyDigest is the value of a request presentation's "htd" claim (an
// agentid extension) for a request body: the unpadded base64url SHA-256 of
// its exact bytes (of the empty string for no body).
func BodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Principal returns a registered principal.
func (is *Issuer) Principal(ctx context.Context, id string) (*Principal, error) {
	var p *Principal
	err := is.db.View(ctx, func(tx store.Tx) error {
		var r principalRecord
		ok, err := getJSON(tx, bucketPrincipals, id, &r)
		if err != nil {
			return err
		}
		if !ok {
			return fail(KindNotFound, CodeUnknownPrincipal, "no principal %s", id)
		}
		p = r.principal()
		return nil
	})
	return p, err
}

// Principals lists registered principals (admins only).
func (is *Issuer) Principals(ctx context.Context, actor *Principal) ([]Principal, error) {
	var out []Principal
	err := is.guard(ctx, is.event(actor, audit.ActionPrincipalList), func(*audit.Event) error {
		if actor.Role != RoleAdmin {
			return fail(KindForbidden, CodeForbidden, "admins only")
		}
		var err error
		out, err = is.principals(ctx)
		return err
	})
	return out, err
}

func (is *Issuer) principals(ctx context.Context) ([]Principal, error) {
	var out []Principal
	err := is.db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucketPrincipals).Range(nil, func(k, v []byte) error {
			var r principalRecord
			if err := decodeJSON(tx, bucketPrincipals, k, v, &r); err != nil {
				return err
			}
			out = append(out, *r.principal())
			return nil
		})
	})
	return out, err
}

// HasPrincipals reports whether any principal is registered (a fresh data
// directory has none until its first admin).
func (is *Issuer) HasPrincipals(ctx context.Context) (bool, error) {
	ps, err := is.principals(ctx)
	return len(ps) > 0, err
}

// AddPrincipal registers an admin or orchestrator and returns it as
// stored. actor nil means the system itself (first start).
func (is *Issuer) AddPrincipal(ctx context.Context, actor *Principal, p Principal) (*Principal, error) {
	ev := is.event(actor, audit.ActionPrincipalAdd)
	ev.Subject = p.DID
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		if actor != nil && actor.Role != RoleAdmin {
			return fail(KindForbidden, CodeForbidden, "only admins register principals")
		}
		if err := is.checkPrincipal(&p); err != nil {
			return err
		}
		p.CreatedAt = is.cfg.Now().UTC().Truncate(time.Second)
		p.CreatedBy = ev.Actor
		return is.db.Update(ctx, func(tx store.Tx) error {
			b := tx.Bucket(bucketPrincipals)
			if b.Get([]byte(p.DID)) != nil {
				return fail(KindConflict, CodePrincipalExists, "%s is already registered", p.DID)
			}
			if err := putJSON(tx, bucketPrincipals, p.DID, principalRecordOf(&p)); err != nil {
				return err
			}
			done := *ev
			done.Time, done.Scopes, done.Decision, done.Detail = p.CreatedAt, p.Ceiling, audit.DecisionAllow, "role "+string(p.Role)
			return is.audit.AppendTx(tx, &done)
		})
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (is *Issuer) checkPrincipal(p *Principal) *Error {
	if _, err := did.PublicKeyFromKey(p.DID); err != nil {
		if _, err2 := did.PublicKeyFromJWK(p.DID); err2 != nil {
			return badRequest("principal DID must be a valid did:key or did:jwk")
		}
	}
	if p.Role != RoleAdmin && p.Role != RoleOrchestrator && p.Role != RoleApprover && p.Role != RoleResource {
		return badRequest("role must be admin, orchestrator, approver or resource")
	}
	if p.Role == RoleResource && (len(p.Ceiling) > 0 || len(p.Audiences) > 0) {
		return badRequest("a resource principal grants nothing: no ceiling or audiences")
	}
	if p.Role == RoleOrchestrator && len(p.Ceiling) == 0 {
		return badRequest("an orchestrator needs a scope ceiling")
	}
	for _, c := range p.Ceiling {
		if !validCeiling(c) {
			return badRequest("ceiling entry %q is not resource:action or resource:*", c)
		}
	}
	// The same range as an agent's maxDepth (rootMaxDepth): no tree is
	// deeper than MaxDelegationDepth whatever its principal says, and a
	// negative depth means nothing.
	if p.MaxDepth < 0 || p.MaxDepth > MaxDelegationDepth {
		return badRequest("maxDepth must be within [0, %d]", MaxDelegationDepth)
	}
	if p.MaxTTL < 0 || p.MaxTTL > is.cfg.MaxTTL {
		return fail(KindInvalid, CodeLifetimeExceeds, "maxTtl must be within (0, %v]", is.cfg.MaxTTL)
	}
	if len(p.Name) > 256 {
		return badRequest("name is too long")
	}
	return nil
}

// RemovePrincipal unregisters a principal. The last admin cannot be
// removed. What the principal registered stops with it, in the same
// transaction: every unexpired, unrevoked credential of its agents is
// suspended (as by an admin, so that only an admin lifts it), its agents
// can no longer refresh (CodePrincipalRemoved) and the inventory shows
// them as StatusOrphaned.
func (is *Issuer) RemovePrincipal(ctx context.Context, actor *Principal, id string) error {
	ev := is.event(actor, audit.ActionPrincipalRemove)
	ev.Subject = id
	return is.guard(ctx, ev, func(ev *audit.Event) error {
		if actor.Role != RoleAdmin {
			return fail(KindForbidden, CodeForbidden, "only admins remove principals")
		}
		return is.db.Update(ctx, func(tx store.Tx) error {
			b := tx.Bucket(bucketPrincipals)
			var p principalRecord
			ok, err := getJSON(tx, bucketPrincipals, id, &p)
			if err != nil {
				return err
			}
			if !ok {
				return fail(KindNotFound, CodeUnknownPrincipal, "no principal %s", id)
			}
			if p.Role == RoleAdmin {
				admins := 0
				_ = b.Range(nil, func(k, v []byte) error {
					var q principalRecord
					if decodeJSON(tx, bucketPrincipals, k, v, &q) == nil && q.Role == RoleAdmin {
						admins++
					}
					return nil
				})
				if admins <= 1 {
					return fail(KindConflict, CodeLastAdmin, "the last admin cannot be removed")
				}
			}
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
			n, err := is.suspendCreatedBy(tx, actor, id)
			if err != nil {
				return err
			}
			done := *ev
			done.Time, done.Decision = is.cfg.Now().UTC(), audit.DecisionAllow
			done.Detail = fmt.Sprintf("%d credentials of its agents suspended", n)
			return is.audit.AppendTx(tx, &done)
		})
	})
}

// suspendCreatedBy suspends, as actor with an admin's hold, every
// unexpired, unrevoked credential of the agents that principal created (a
// suspension an orchestrator imposed is raised to an admin's), and returns
// how many it changed.
func (is *Issuer) suspendCreatedBy(tx store.Tx, actor *Principal, principal string) (int, error) {
	now := is.cfg.Now()
	var agents []agentRecord
	err := tx.Bucket(bucketAgents).Range(nil, func(k, v []byte) error {
		var a agentRecord
		if err := decodeJSON(tx, bucketAgents, k, v, &a); err != nil {
			return err
		}
		if a.CreatedBy == principal && !a.Retired {
			agents = append(agents, a)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range agents {
		ids, err := agentCredentials(tx, &agents[i])
		if err != nil {
			return 0, err
		}
		for _, id := range ids {
			var c credentialRecord
			if ok, err := getJSON(tx, bucketCredentials, id, &c); err != nil || !ok {
				return 0, fmt.Errorf("credential record %s missing: %v", id, err)
			}
			if c.Revoked || !now.Before(c.ValidUntil) || (c.Suspended && roleRank(c.SuspendedRole) >= roleRank(RoleAdmin)) {
				continue
			}
			if err := is.status.SetTx(tx, c.Suspension, true); err != nil {
				return 0, err
			}
			c.Suspended, c.SuspendedBy, c.SuspendedRole = true, actor.DID, RoleAdmin
			if err := is.agentLevelTx(tx, c.Agent, c.ID, Suspend); err != nil {
				return 0, err
			}
			if err := putJSON(tx, bucketCredentials, c.ID, c); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, nil
}

// event starts the audit event of an operation by actor (nil: the system).
func (is *Issuer) event(actor *Principal, action string) *audit.Event {
	ev := &audit.Event{Action: action, Actor: "system"}
	if actor != nil {
		ev.Actor = actor.DID
	}
	return ev
}

// guard runs one operation and is the one place refusals are audited:
// when op returns a *Error (anywhere in its chain), the event op was
// given, with whatever op filled in, is appended as a denial carrying the
// code and detail, and the *Error is returned. If that append fails, the
// caller gets the audit failure instead, so that no refusal goes
// unrecorded. Other errors (internal failures) are wrapped and returned;
// success is op's to record, inside its own transaction.
//
// Refusals of kind KindUnauthenticated — the caller proved no registered
// identity: a bad, malformed, stale or replayed presentation, or a valid
// signature by a key that is not a registered principal (a did:key costs
// nothing to mint) — are not appended one by one but counted by the
// refusal aggregator, per source (audit.WithSource on ctx), reason and
// minute, and written as one audit.ActionRefusalsAggregate event per
// bucket: otherwise anyone could fill the disk with one request per
// event. Only a failure to write a due aggregate is returned.
func (is *Issuer) guard(ctx context.Context, ev *audit.Event, op func(ev *audit.Event) error) error {
	err := op(ev)
	if err == nil {
		return nil
	}
	e, ok := Refusal(err)
	if !ok {
		return err
	}
	if ev.Actor == "system" {
		ev.Actor = ""
	}
	ev.Time, ev.Decision, ev.Reason, ev.Detail = is.cfg.Now().UTC(), audit.DecisionDeny, string(e.Code), e.Detail
	if e.Kind == KindUnauthenticated {
		if aerr := is.refusals.Count(ctx, ev); aerr != nil {
			is.log.Error("audit write failed", "action", audit.ActionRefusalsAggregate, "err", aerr)
			return fmt.Errorf("issuer: audit: %w", aerr)
		}
		return e
	}
	if aerr := is.audit.Append(ctx, ev); aerr != nil {
		is.log.Error("audit write failed", "action", ev.Action, "err", aerr)
		return fmt.Errorf("issuer: audit: %w", aerr)
	}
	return e
}
