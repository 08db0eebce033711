package verifier

import (
	"context"
	"crypto"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// StatusChecker reads the status bits of a credential. statuslist.Checker
// implements it. It returns nil, or an error carrying reason.Revoked,
// reason.Suspended or reason.StatusUnavailable.
type StatusChecker interface {
	Check(ctx context.Context, issuer string, entries []vc.StatusEntry) error
}

// ProvisionalStatus is a StatusChecker that can answer from what it holds
// without first asking its source whether that is current, and confirm
// it later, once the presentation's jti is recorded (as the issuer
// service does on PostgreSQL, where the record and the confirmation are
// one statement). A Verifier whose StatusChecker implements it calls
// CheckHeld where it would call Check. When CheckHeld answers ok, what it
// holds says every entry is clear, and the verifier calls confirm once
// the jti is recorded, refusing with confirm's error if there is one (the
// presentation is spent then). CheckHeld answers ok=false when it cannot
// answer from what it holds, or when what it holds has a bit set: a
// refusal is never provisional, the verifier calls Check and it decides.
type ProvisionalStatus interface {
	StatusChecker
	CheckHeld(ctx context.Context, issuer string, entries []vc.StatusEntry) (confirm func(context.Context) error, ok bool)
}

// Request describes the request a presentation is offered for.
type Request struct {
	// Audience is the resource API's identifier; empty means the
	// verifier's default audience.
	Audience string
	// Method and URL are the HTTP request's; they are matched against htm
	// and htu.
	Method string
	URL    string
	// Nonce is the challenge the resource API expects, if it issued one for
	// this request. When empty and the verifier requires nonces, the
	// presentation's nonce must be one the verifier's NonceStore issued.
	Nonce string
	// Scopes must all be granted by the credential.
	Scopes []string
	// SourceIP is the caller's address, for sourceNetworks constraints.
	SourceIP string
	// RequestID correlates the audit event with the caller's logs.
	RequestID string
}

// Result is what a successful verification establishes.
type Result struct {
	Agent        string    `json:"agent"`
	Issuer       string    `json:"issuer"`
	Scopes       []string  `json:"scopes"`
	Owner        string    `json:"owner,omitempty"`
	Purpose      string    `json:"purpose,omitempty"`
	CredentialID string    `json:"credentialId"`
	ExpiresAt    time.Time `json:"expiresAt"`
	// DelegatedBy is the principal that registered the agent (for a
	// sub-agent: its tree's root principal); Delegation a sub-agent's chain
	// of ancestors, root first (nil for an agent a principal registered);
	// OnBehalfOf whom the agent acts for. From an access token, Agent is
	// its client_id and Delegation its delegation claim (its act claim is
	// in AccessToken.Act); a token carries neither DelegatedBy nor
	// OnBehalfOf.
	DelegatedBy string              `json:"delegatedBy,omitempty"`
	Delegation  []vc.DelegationLink `json:"delegation,omitempty"`
	OnBehalfOf  string              `json:"onBehalfOf,omitempty"`
	// Credential and Presentation are the decoded objects; treat them as
	// read-only (a cached credential is shared between calls).
	Credential   *vc.Credential   `json:"-"`
	Presentation *vc.Presentation `json:"-"`
	// AccessToken is set instead of both when the request carried an
	// OAuth access token (VerifyAccessToken).
	AccessToken *oauth.AccessToken `json:"-"`
}

// Verifier checks agent presentations. It is safe for concurrent use.
type Verifier struct {
	trusted     map[string]bool
	keys        vc.KeyResolver
	status      StatusChecker
	now         func() time.Time
	replay      ReplayCache
	nonces      NonceStore
	audience    string
	requireHTTP bool
	// issuerAudience: see WithIssuerAudience.
	issuerAudience bool
	skew           time.Duration
	maxLifetime    time.Duration
	sigCache       *sigCache
	cons           constraintChecker
	audit          audit.Sink
	observe        func(code reason.Code, d time.Duration)
	slots          chan struct{}
	// OAuth access tokens (accesstoken.go).
	bearer     bool
	dpopNonces *oauth.Nonces
	tokens     *tokenCache
}

// Option configures a Verifier.
type Option func(*Verifier) error

// WithTrustedIssuers sets the issuer DIDs whose credentials are accepted.
func WithTrustedIssuers(dids ...string) Option {
	return func(v *Verifier) error {
		for _, d := range dids {
			if !strings.HasPrefix(d, "did:") {
				return fmt.Errorf("verifier: trusted issuer %q is not a DID", d)
			}
			v.trusted[d] = true
		}
		return nil
	}
}

// WithKeyResolver sets how DID URL kids become keys (required); use a
// did.MultiResolver with a did:web resolver for issuers.
func WithKeyResolver(r vc.KeyResolver) Option {
	return func(v *Verifier) error { v.keys = r; return nil }
}

// WithStatusChecker sets how credential status is read (required, unless
// WithoutStatus is given for tests).
func WithStatusChecker(s StatusChecker) Option {
	return func(v *Verifier) error { v.status = s; return nil }
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) error { v.now = now; return nil }
}

// WithReplayCache replaces the default in-memory replay cache (for example
// with one shared by replicas).
func WithReplayCache(c ReplayCache) Option {
	return func(v *Verifier) error { v.replay = c; return nil }
}

// WithAudience sets the default audience: the resource API's URL.
func WithAudience(aud string) Option {
	return func(v *Verifier) error { v.audience = aud; return nil }
}

// WithRequiredNonce makes every presentation carry a nonce issued by s (or
// the one given in Request.Nonce).
func WithRequiredNonce(s NonceStore) Option {
	return func(v *Verifier) error { v.nonces = s; return nil }
}

// WithRequiredRequestBinding makes htm and htu mandatory.
func WithRequiredRequestBinding() Option {
	return func(v *Verifier) error { v.requireHTTP = true; return nil }
}

// WithIssuerAudience makes a verifier for the issuer itself: presentations
// are addressed to the issuer (the verifier's audience), while the
// credential they carry names the resource APIs it is for, so the
// credential's audiences are not checked against the presentation's. The
// issuer uses it to verify refresh requests; a resource API must never.
func WithIssuerAudience() Option {
	return func(v *Verifier) error { v.issuerAudience = true; return nil }
}

// WithSkew sets the allowed clock skew (default 60 s, at most 5 minutes).
func WithSkew(d time.Duration) Option {
	return func(v *Verifier) error {
		if d < 0 || d > 5*time.Minute {
			return fmt.Errorf("verifier: skew %v out of range [0, 5m]", d)
		}
		v.skew = d
		return nil
	}
}

// WithMaxLifetime sets the longest accepted presentation lifetime, exp - iat
// (default 5 minutes).
func WithMaxLifetime(d time.Duration) Option {
	return func(v *Verifier) error {
		if d <= 0 || d > time.Hour {
			return fmt.Errorf("verifier: max lifetime %v out of range (0, 1h]", d)
		}
		v.maxLifetime = d
		return nil
	}
}

// WithSignatureCache sets how many verified credentials are remembered by
// hash so that repeat presentations cost one signature check (default
// 10,000; 0 disables the cache). Expiry, status, scopes and constraints are
// still checked on every call.
func WithSignatureCache(n int) Option {
	return func(v *Verifier) error {
		if n < 0 {
			return errors.New("verifier: negative signature cache size")
		}
		v.sigCache = newSigCache(n)
		return nil
	}
}

// WithAudit records one audit event per decision (allowed or denied, with
// its reason code) to sink. If the event cannot be recorded, Verify fails:
// a decision that leaves no trace is not made.
func WithAudit(sink audit.Sink) Option {
	return func(v *Verifier) error { v.audit = sink; return nil }
}

// WithConcurrency bounds how many verifications compute at once (the
// audit write that follows is not counted). Under load this keeps the
// number of runnable goroutines near the number of cores, so that the
// latency of each request, and the audit writer's turn on a core, stay
// short. n <= 0 means no bound (the default).
func WithConcurrency(n int) Option {
	return func(v *Verifier) error {
		if n > 0 {
			v.slots = make(chan struct{}, n)
		}
		return nil
	}
}

// WithObserver calls fn after every decision with its reason code ("" when
// allowed) and duration, for metrics.
func WithObserver(fn func(code reason.Code, d time.Duration)) Option {
	return func(v *Verifier) error { v.observe = fn; return nil }
}

// New returns a Verifier. A key resolver, at least one trusted issuer and a
// status checker are required.
func New(opts ...Option) (*Verifier, error) {
	v := &Verifier{
		trusted:     map[string]bool{},
		now:         time.Now,
		skew:        60 * time.Second,
		maxLifetime: 5 * time.Minute,
		sigCache:    newSigCache(10_000),
		cons:        constraintChecker{max: 1_000_000},
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	if v.keys == nil {
		return nil, errors.New("verifier: a key resolver is required")
	}
	if len(v.trusted) == 0 {
		return nil, errors.New("verifier: at least one trusted issuer is required")
	}
	if v.status == nil {
		return nil, errors.New("verifier: a status checker is required")
	}
	if v.replay == nil {
		v.replay = NewMemoryReplayCache(0)
	}
	if v.sigCache != nil {
		v.tokens = &tokenCache{max: v.sigCache.max}
	}
	return v, nil
}

// Audience returns the default audience.
func (v *Verifier) Audience() string { return v.audience }

// Nonces returns the verifier's nonce store, or nil when nonces are not
// required.
func (v *Verifier) Nonces() NonceStore { return v.nonces }

// Now returns the verifier's clock reading.
func (v *Verifier) Now() time.Time { return v.now() }

// Verify checks a vp+jwt presentation for a request and returns what it
// establishes, or an error carrying exactly one reason code (see package
// reason). The checks run cheapest and most fundamental first.
func (v *Verifier) Verify(ctx context.Context, presentation string, req Request) (*Result, error) {
	return v.decide(ctx, req, func(now time.Time, who *authenticated, sl *slot) (*Result, error) {
		return v.verify(ctx, presentation, req, now, who, sl)
	})
}

// decide runs check, one verification (Verify, VerifyAccessToken), under
// a concurrency slot and with the verifier's clock reading, then observes
// and audits its outcome. An audit that cannot be written fails the
// decision.
func (v *Verifier) decide(ctx context.Context, req Request, check func(now time.Time, who *authenticated, sl *slot) (*Result, error)) (*Result, error) {
	sl := &slot{ch: v.slots}
	if err := sl.acquire(ctx); err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	start := time.Now()
	now := v.now()
	var who authenticated
	r, err := check(now, &who, sl)
	sl.release()
	if v.observe != nil {
		code, _ := reason.CodeOf(err)
		if err != nil && code == "" {
			code = reason.StatusUnavailable
		}
		v.observe(code, time.Since(start))
	}
	if v.audit != nil {
		if aerr := v.record(ctx, req, now, &who, err); aerr != nil {
			return nil, fmt.Errorf("verifier: audit: %w", aerr)
		}
	}
	return r, err
}

// slot is a verification's hold on one of the verifier's concurrency
// slots (WithConcurrency). The slot bounds computation, not waiting: it is
// given up around calls that may wait on the network (an issuer's keys, a
// status list) and taken again after, so that a slow or silent issuer host
// cannot stall the verifications of other issuers' credentials.
type slot struct {
	ch   chan struct{}
	held bool
}

func (s *slot) acquire(ctx context.Context) error {
	if s.ch == nil || s.held {
		return nil
	}
	select {
	case s.ch <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slot) release() {
	if s.held {
		<-s.ch
		s.held = false
	}
}

// outside runs fn, which may wait on the network, without the slot.
func (s *slot) outside(ctx context.Context, fn func() error) error {
	if s.ch == nil {
		return fn()
	}
	s.release()
	err := fn()
	if aerr := s.acquire(ctx); aerr != nil && err == nil {
		err = reason.Wrap(reason.StatusUnavailable, "verifier: cancelled", aerr)
	}
	return err
}

// slotResolver resolves keys with the slot given up.
type slotResolver struct {
	slot *slot
	keys vc.KeyResolver
}

func (r slotResolver) ResolveKey(ctx context.Context, kid string, rel did.Relationship) (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	err := r.slot.outside(ctx, func() error {
		var err error
		pub, err = r.keys.ResolveKey(ctx, kid, rel)
		return err
	})
	return pub, err
}

// authenticated is what is known about a presentation once its signature
// verified, for the audit trail of a denial.
type authenticated struct {
	holder, credential string
	chain              []vc.DelegationLink
}

func (v *Verifier) record(ctx context.Context, req Request, now time.Time, who *authenticated, err error) error {
	ev := &audit.Event{
		Time: now.UTC(), RequestID: req.RequestID, Action: audit.ActionVerify,
		Actor: who.holder, Subject: who.holder, Credential: who.credential,
		Resource: v.aud(req), Scopes: req.Scopes, SourceIP: req.SourceIP,
		Decision: audit.DecisionAllow,
	}
	if len(who.chain) > 0 {
		ev.Delegation = make([]audit.Link, len(who.chain))
		for i, l := range who.chain {
			ev.Delegation[i] = audit.Link{Credential: l.Credential, Holder: l.Holder}
		}
	}
	if req.URL != "" {
		ev.Resource = req.URL
	}
	if err != nil {
		ev.Decision = audit.DecisionDeny
		code, _ := reason.CodeOf(err)
		ev.Reason = string(code)
		var re *reason.Error
		if errors.As(err, &re) {
			ev.Detail = re.Detail
		} else if oe, ok := oauth.AsError(err); ok {
			ev.Detail = string(oe.Code) + ": " + oe.Description
		}
	}
	return v.audit.Record(ctx, ev)
}

// HolderError wraps a refusal of the presentation itself (its signature,
// audience, lifetime, replay, nonce or request binding) rather than of the
// credential it carries. The reason code is in its chain as always; an
// issuer uses the distinction to answer an unauthenticated caller
// differently from one whose credential no longer allows the request.
type HolderError struct{ Err error }

func (e *HolderError) Error() string { return e.Err.Error() }
func (e *HolderError) Unwrap() error { return e.Err }

func (v *Verifier) verify(ctx context.Context, presentation string, req Request, now time.Time, who *authenticated, sl *slot) (*Result, error) {
	pp, err := v.verifyHolder(ctx, presentation, req, now, who)
	if err != nil {
		return nil, &HolderError{Err: err}
	}
	p := pp.Presentation
	if len(p.VerifiableCredential) != 1 {
		return nil, reason.New(reason.Malformed, fmt.Sprintf("verifier: presentation carries %d credentials, want 1", len(p.VerifiableCredential)))
	}
	tok, _ := p.VerifiableCredential[0].JWT() // checked by Validate
	c, err := v.credential(ctx, tok, now, sl)
	if err != nil {
		return nil, err
	}
	who.credential, who.chain = c.ID, c.CredentialSubject.Delegation
	if err := c.CheckValidity(now, v.skew); err != nil {
		return nil, err
	}
	if c.CredentialSubject.ID != p.HolderDID() {
		return nil, reason.New(reason.HolderMismatch, "verifier: presentation signer is not the credential subject")
	}
	if !hasPurpose(c.CredentialStatus, "revocation") {
		// A credential that cannot be revoked is not accepted: fail closed.
		return nil, reason.New(reason.StatusUnavailable, "verifier: credential has no revocation status entry")
	}
	var confirm func(context.Context) error
	if ps, ok := v.status.(ProvisionalStatus); ok {
		confirm, ok = ps.CheckHeld(ctx, c.Issuer.ID, c.CredentialStatus)
		if !ok {
			confirm = nil
		}
	}
	if confirm == nil {
		if err := sl.outside(ctx, func() error { return v.status.Check(ctx, c.Issuer.ID, c.CredentialStatus) }); err != nil {
			return nil, v.statusErr(ctx, c, err)
		}
	}
	for _, s := range req.Scopes {
		if !contains(c.CredentialSubject.Scopes, s) {
			return nil, reason.New(reason.InsufficientScope, "verifier: scope "+s+" is not granted")
		}
	}
	aud := v.aud(req)
	if !v.issuerAudience && !contains(c.CredentialSubject.Audiences, aud) {
		return nil, reason.New(reason.WrongAudience, "verifier: credential is not valid for "+aud)
	}
	if err := v.cons.check(c.CredentialSubject.Constraints, c.CredentialSubject.ID, req.SourceIP, now); err != nil {
		return nil, err
	}
	// The last step may wait on the replay cache (a table that replicas
	// share): the slot bounds computation, not waiting.
	sl.release()
	if err := v.commit(p, now); err != nil {
		return nil, &HolderError{Err: err}
	}
	if confirm != nil {
		// The status answered from what the checker held, now confirmed
		// (or checked again) after the record. A refusal here leaves the
		// jti recorded: the presentation is spent either way.
		if err := confirm(ctx); err != nil {
			return nil, v.statusErr(ctx, c, err)
		}
	}
	r := &Result{
		Agent:        c.CredentialSubject.ID,
		Issuer:       c.Issuer.ID,
		Scopes:       slices.Clone(c.CredentialSubject.Scopes),
		Owner:        c.CredentialSubject.Owner,
		Purpose:      c.CredentialSubject.Purpose,
		CredentialID: c.ID,
		DelegatedBy:  c.CredentialSubject.DelegatedBy,
		Delegation:   c.CredentialSubject.Delegation,
		OnBehalfOf:   c.CredentialSubject.OnBehalfOf,
		Credential:   c,
		Presentation: p,
	}
	if c.ValidUntil != nil {
		r.ExpiresAt = *c.ValidUntil
	}
	return r, nil
}

// statusErr is the refusal for a status check's error: its own reason
// code, or status_unavailable, with the ancestor named when a delegated
// credential's ancestor is the cause.
func (v *Verifier) statusErr(ctx context.Context, c *vc.Credential, err error) error {
	if _, ok := reason.CodeOf(err); !ok {
		err = reason.Wrap(reason.StatusUnavailable, "verifier: status check failed", err)
	}
	return v.blame(ctx, c, err)
}

// VerifyHolder checks a presentation as proof that its holder made this
// request, without any credential: signature, audience, freshness, replay,
// nonce and request binding. Its jti is recorded once every check passed.
// Anyone can mint a key: a caller that admits only some holders (the
// issuer, its principals) uses [Verifier.AuthenticateHolder], so that a
// presentation it refuses leaves nothing in the replay cache.
func (v *Verifier) VerifyHolder(ctx context.Context, presentation string, req Request) (*vc.Presentation, error) {
	return v.AuthenticateHolder(ctx, presentation, req, nil)
}

// AuthenticateHolder is VerifyHolder with an admission step: admit runs
// after every presentation check and before the jti is recorded, so that
// only admitted holders take room in the replay cache. An error from admit
// is returned as it is, and nothing is recorded. A replay is refused before
// admit is called, and again, atomically, when the jti is recorded: of two
// concurrent uses of one presentation, one fails as reason.Replayed.
func (v *Verifier) AuthenticateHolder(ctx context.Context, presentation string, req Request, admit func(context.Context, *vc.Presentation) error) (*vc.Presentation, error) {
	now := v.now()
	pp, err := v.verifyHolder(ctx, presentation, req, now, &authenticated{})
	if err != nil {
		return nil, err
	}
	if admit != nil {
		if err := admit(ctx, pp.Presentation); err != nil {
			return nil, err
		}
	}
	if err := v.commit(pp.Presentation, now); err != nil {
		return nil, err
	}
	return pp.Presentation, nil
}

// commit records the presentation's jti in the replay cache: the last step
// of a verification that passed.
func (v *Verifier) commit(p *vc.Presentation, now time.Time) error {
	exp := time.Unix(p.Exp, 0).Add(v.skew)
	switch err := v.replay.Record(p.HolderDID(), p.Jti, exp, now); {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplayed):
		return reason.New(reason.Replayed, "verifier: presentation was already used")
	default:
		return reason.Wrap(reason.Replayed, "verifier: presentation cannot be tracked for replay", err)
	}
}

func (v *Verifier) aud(req Request) string {
	if req.Audience != "" {
		return req.Audience
	}
	return v.audience
}

func (v *Verifier) verifyHolder(ctx context.Context, presentation string, req Request, now time.Time, who *authenticated) (*vc.ParsedPresentation, error) {
	pp, err := vc.ParsePresentation(presentation)
	if err != nil {
		return nil, err
	}
	if err := pp.Verify(ctx, v.keys); err != nil {
		return nil, err
	}
	p := pp.Presentation
	// From here on the holder is authenticated: denials name it.
	who.holder = p.HolderDID()
	aud := v.aud(req)
	if aud == "" {
		return nil, reason.New(reason.WrongAudience, "verifier: no audience configured")
	}
	if !p.Aud.Contains(aud) {
		return nil, reason.New(reason.WrongAudience, "verifier: presentation is not addressed to "+aud)
	}
	if p.Iat == 0 || p.Exp == 0 {
		return nil, reason.New(reason.Malformed, "verifier: presentation needs iat and exp")
	}
	iat, exp := time.Unix(p.Iat, 0), time.Unix(p.Exp, 0)
	if !exp.After(iat) || exp.Sub(iat) > v.maxLifetime {
		return nil, reason.New(reason.Malformed, fmt.Sprintf("verifier: presentation lifetime must be within (0, %v]", v.maxLifetime))
	}
	if now.After(exp.Add(v.skew)) {
		return nil, reason.New(reason.Expired, "verifier: presentation expired")
	}
	if now.Add(v.skew).Before(iat) || (p.Nbf != 0 && now.Add(v.skew).Before(time.Unix(p.Nbf, 0))) {
		return nil, reason.New(reason.NotYetValid, "verifier: presentation is from the future")
	}
	if p.Jti == "" {
		return nil, reason.New(reason.Malformed, "verifier: presentation has no jti")
	}
	// Only a lookup here: the jti is recorded by commit, once the holder
	// is known to hold a valid credential or to be admitted.
	if v.replay.Seen(p.HolderDID(), p.Jti, now) {
		return nil, reason.New(reason.Replayed, "verifier: presentation was already used")
	}
	switch {
	case req.Nonce != "":
		if subtle.ConstantTimeCompare([]byte(p.Nonce), []byte(req.Nonce)) != 1 {
			return nil, reason.New(reason.BadNonce, "verifier: nonce does not match the challenge")
		}
	case v.nonces != nil:
		if p.Nonce == "" || !v.nonces.Consume(p.Nonce, now) {
			return nil, reason.New(reason.BadNonce, "verifier: missing, unknown or used nonce")
		}
	}
	if p.Htm != "" || p.Htu != "" || v.requireHTTP {
		if err := matchRequest(p.Htm, p.Htu, req.Method, req.URL); err != nil {
			return nil, err
		}
	}
	return pp, nil
}

// matchRequest compares htm/htu with the request (RFC 9449 §4.3: method
// exactly, URI without query and fragment, scheme and host case-insensitive,
// default ports elided).
func matchRequest(htm, htu, method, rawURL string) error {
	if htm == "" || htu == "" {
		return reason.New(reason.RequestMismatch, "verifier: presentation must bind htm and htu")
	}
	if method == "" || rawURL == "" {
		return reason.New(reason.RequestMismatch, "verifier: request method and URL are needed to check htm/htu")
	}
	if htm != method {
		return reason.New(reason.RequestMismatch, "verifier: htm does not match the request method")
	}
	a, err1 := normURL(htu)
	b, err2 := normURL(rawURL)
	if err1 != nil || err2 != nil || a != b {
		return reason.New(reason.RequestMismatch, "verifier: htu does not match the request URL")
	}
	return nil
}

func normURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", errors.New("bad URL")
	}
	host := strings.ToLower(u.Host)
	if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.ToLower(u.Scheme) + "://" + host + path, nil
}

// credential parses and verifies an enveloped credential, through the
// signature cache.
func (v *Verifier) credential(ctx context.Context, tok string, now time.Time, sl *slot) (*vc.Credential, error) {
	if v.sigCache != nil {
		if c := v.sigCache.get(tok, now); c != nil {
			return c, nil
		}
	}
	pc, err := vc.ParseCredential(tok)
	if err != nil {
		return nil, err
	}
	c := pc.Credential
	if !v.trusted[c.Issuer.ID] {
		return nil, reason.New(reason.UntrustedIssuer, "verifier: issuer "+c.Issuer.ID+" is not trusted")
	}
	var keys vc.KeyResolver = v.keys
	if sl != nil && sl.ch != nil {
		keys = slotResolver{slot: sl, keys: v.keys}
	}
	if err := pc.Verify(ctx, keys); err != nil {
		return nil, err
	}
	if v.sigCache != nil && c.ValidUntil != nil {
		v.sigCache.put(tok, c, *c.ValidUntil, now)
	}
	return c, nil
}

func hasPurpose(entries []vc.StatusEntry, purpose string) bool {
	for _, e := range entries {
		if e.StatusPurpose == purpose {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sigCache remembers credentials whose signature verified, keyed by the
// whole token (a map lookup compares it in full, so a hit is the very same
// bytes that verified), until they expire (at most sigCacheTTL).
type sigCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]sigEntry
}

type sigEntry struct {
	c   *vc.Credential
	exp int64
}

// sigCacheTTL bounds how long a signature result is trusted, so that a
// retired issuer key stops verifying cached credentials soon.
const sigCacheTTL = 5 * time.Minute

func newSigCache(n int) *sigCache {
	if n == 0 {
		return nil
	}
	return &sigCache{max: n, m: make(map[string]sigEntry)}
}

func (s *sigCache) get(k string, now time.Time) *vc.Credential {
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	if !ok || e.exp < now.UnixNano() {
		return nil
	}
	return e.c
}

func (s *sigCache) put(tok string, c *vc.Credential, validUntil, now time.Time) {
	// Clone: tok is a slice of the presentation's decoded payload, which
	// the cache must not keep alive.
	k := strings.Clone(tok)
	exp := validUntil
	if lim := now.Add(sigCacheTTL); lim.Before(exp) {
		exp = lim
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		// Full: drop what has expired, then arbitrary entries, down to
		// three quarters, so that the next max/4 inserts cost nothing.
		n := now.UnixNano()
		for key, e := range s.m {
			if e.exp < n {
				delete(s.m, key)
			}
		}
		for key := range s.m {
			if len(s.m) <= s.max*3/4 {
				break
			}
			delete(s.m, key)
		}
	}
	s.m[k] = sigEntry{c: c, exp: exp.UnixNano()}
}
