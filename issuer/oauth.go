package issuer

import (
	"bytes"
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
)

// Audit actions of the OAuth face.
const (
	ActionOAuthToken      = audit.ActionOAuthToken
	ActionOAuthIntrospect = "oauth.introspect"
	ActionOAuthRevoke     = "oauth.revoke"
)

// RoleResource is a resource server registered as a principal: it may
// introspect tokens (POST /oauth/introspect), nothing else.
const RoleResource Role = "resource"

// bucketRevokedTokens holds access tokens revoked through RFC 7009: key
// the jti, value the token's exp (8-byte big-endian Unix seconds).
const bucketRevokedTokens = "oauth.revokedtokens"

// AuthServerOptions configure the OAuth face (see [NewAuthServer]).
type AuthServerOptions struct {
	// TokenTTL is an access token's lifetime (oauth.DefaultTokenTTL,
	// 5 minutes, when zero), never past the credential's validUntil.
	TokenTTL time.Duration
	// BearerResources are the resources (RFC 8707 URIs) for which a token
	// request without a DPoP proof gets a bearer token, for hosts that
	// cannot do DPoP (docs/oauth.md, "Bearer tokens"). Empty: DPoP is
	// required for every token.
	BearerResources []string
	// BearerTTL is a bearer token's lifetime (60 s when zero, at most
	// TokenTTL).
	BearerTTL time.Duration
	// Nonces, when set, makes the token endpoint require DPoP server
	// nonces (RFC 9449 §8): a proof without a fresh nonce is refused with
	// use_dpop_nonce and the answer carries one.
	Nonces *oauth.Nonces
	// Replay records the jti of client assertions and DPoP proofs. Nil:
	// the issuer's replay cache (Config.Replay).
	Replay verifier.ReplayCache
	// Exchange verifies the vp+jwt subject tokens of token exchange
	// (RFC 8693): a verifier trusting the issuers whose credentials may be
	// exchanged, with this issuer's URL as its audience. Nil: token
	// exchange accepts this issuer's own credentials only.
	Exchange *verifier.Verifier
	// Status reads the status of other issuers' credentials, for
	// introspection of tokens exchanged from them. Nil: such tokens
	// introspect as inactive (fail closed).
	Status verifier.StatusChecker
}

// AuthServer is the issuer's OAuth 2.1 authorization server: the token
// endpoint (client_credentials with private_key_jwt, and token exchange
// of a vp+jwt), introspection and revocation. Its tokens carry what the
// agent's credential guarantees (scopes, audiences, lifetime, status),
// and every refusal is audited with the agent DID and the reason.
type AuthServer struct {
	is       *Issuer
	opts     AuthServerOptions
	replay   verifier.ReplayCache
	exchange *verifier.Verifier
	grants   grantCache
}

// grantCache remembers, per agent, the stored bytes of its agent and
// current credential records and the grant source decoded from them, so
// that a token request whose records have not changed skips their MAC
// check and JSON decoding (about 6% of the token endpoint's CPU). It is
// keyed on content: a record that changed in any way, on this replica or
// another, or was tampered with, has other bytes and is read afresh; what
// depends on the time (expiry) and on other records (ancestors) is checked
// on every request.
type grantCache struct {
	mu sync.Mutex
	m  map[string]*grantEntry
}

type grantEntry struct {
	agent, cred []byte
	credID      string
	parent      string
	src         *grantSource // never modified once cached
}

// grantCacheSize bounds the cache: when full it is emptied and refilled by
// the agents that ask next.
const grantCacheSize = 4096

func (c *grantCache) get(agent string) *grantEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[agent]
}

func (c *grantCache) put(agent string, e *grantEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= grantCacheSize {
		c.m = make(map[string]*grantEntry)
	}
	c.m[agent] = e
}

// NewAuthServer returns the OAuth face of is.
func NewAuthServer(is *Issuer, opts AuthServerOptions) (*AuthServer, error) {
	if opts.TokenTTL == 0 {
		opts.TokenTTL = oauth.DefaultTokenTTL
	}
	if opts.TokenTTL < 0 || opts.TokenTTL > time.Hour {
		return nil, fmt.Errorf("issuer: token TTL %v out of range (0, 1h]", opts.TokenTTL)
	}
	if opts.BearerTTL == 0 {
		opts.BearerTTL = time.Minute
	}
	opts.BearerTTL = min(opts.BearerTTL, opts.TokenTTL)
	a := &AuthServer{is: is, opts: opts, replay: opts.Replay, exchange: opts.Exchange}
	if a.replay == nil {
		a.replay = is.cfg.Replay
		if a.replay == nil {
			a.replay = is.replay
		}
	}
	if a.exchange == nil {
		var err error
		a.exchange, err = verifier.New(verifier.WithKeyResolver(is.resolver), verifier.WithTrustedIssuers(is.did),
			verifier.WithStatusChecker(is.StatusChecker()), verifier.WithClock(is.cfg.Now), verifier.WithAudience(is.cfg.URL),
			verifier.WithReplayCache(a.replay), verifier.WithIssuerAudience())
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Endpoints of the OAuth face, relative to the issuer URL.
const (
	TokenPath      = "/oauth/token"
	IntrospectPath = "/oauth/introspect"
	RevokePath     = "/oauth/revoke"
	JWKSPath       = "/.well-known/jwks.json"
)

// Metadata returns the authorization server metadata (RFC 8414).
func (a *AuthServer) Metadata() *oauth.ServerMetadata {
	u := a.is.cfg.URL
	return &oauth.ServerMetadata{
		Issuer:                u,
		TokenEndpoint:         u + TokenPath,
		JWKSURI:               u + JWKSPath,
		IntrospectionEndpoint: u + IntrospectPath,
		RevocationEndpoint:    u + RevokePath,
		// No grant uses it (see docs/oauth.md): it is the token endpoint
		// itself, which refuses every authorization request, so that
		// clients that insist on the member (the MCP TypeScript SDK) read
		// the metadata.
		AuthorizationEndpoint:                              u + "/oauth/authorize",
		ResponseTypesSupported:                             []string{"code"},
		GrantTypesSupported:                                []string{oauth.GrantClientCredentials, oauth.GrantTokenExchange},
		TokenEndpointAuthMethodsSupported:                  []string{"private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported:         oauth.SigningAlgs,
		IntrospectionEndpointAuthMethodsSupported:          []string{"private_key_jwt"},
		RevocationEndpointAuthMethodsSupported:             []string{"private_key_jwt"},
		IntrospectionEndpointAuthSigningAlgValuesSupported: oauth.SigningAlgs,
		RevocationEndpointAuthSigningAlgValuesSupported:    oauth.SigningAlgs,
		DPoPSigningAlgValuesSupported:                      oauth.SigningAlgs,
		CodeChallengeMethodsSupported:                      []string{"S256"},
		DID:                                                a.is.did,
	}
}

// JWKS returns the issuer's non-retired public keys as a JWK Set: the
// keys of its DID document, each with the DID URL tokens name as kid.
func (a *AuthServer) JWKS(ctx context.Context) (*oauth.JWKS, error) {
	doc, err := a.is.DIDDocument(ctx)
	if err != nil {
		return nil, err
	}
	out := &oauth.JWKS{Keys: []oauth.JWK{}}
	for _, m := range doc.VerificationMethod {
		if m.PublicKeyJwk == nil {
			continue
		}
		k := oauth.JWK{Kty: m.PublicKeyJwk.Kty, Crv: m.PublicKeyJwk.Crv, X: m.PublicKeyJwk.X, Y: m.PublicKeyJwk.Y, Kid: m.ID, Use: "sig"}
		switch k.Kty {
		case "OKP":
			k.Alg = "EdDSA"
		case "EC":
			k.Alg = "ES256"
		}
		out.Keys = append(out.Keys, k)
	}
	return out, nil
}

// TokenRequest is a token request (RFC 6749 §4.4, RFC 8693 §2.1) as the
// HTTP layer decoded it, with its DPoP proof and where it was sent.
type TokenRequest struct {
	GrantType           string
	ClientID            string
	ClientAssertionType string
	ClientAssertion     string
	// Scope is the scope parameter; HasScope tells an absent one from an
	// empty one.
	Scope    string
	HasScope bool
	// Resources are the resource parameters (RFC 8707).
	Resources []string
	// Audience is RFC 8693's audience parameter (token exchange only).
	Audience         string
	SubjectToken     string
	SubjectTokenType string
	// ActorToken and ActorTokenType are RFC 8693's (token exchange):
	// agentid takes no actor token, and refuses a request with either.
	ActorToken, ActorTokenType string
	// DPoP is the DPoP header ("" for none).
	DPoP string
	// Method and URL are the token request's, for the proof's htm/htu.
	Method, URL string
}

// TokenGrant is an issued access token.
type TokenGrant struct {
	Token string
	// Type is "DPoP" or "Bearer".
	Type      string
	ExpiresIn time.Duration
	Claims    *oauth.AccessToken
}

// grantSource is what a grant derives from: the agent and its live
// credential.
type grantSource struct {
	agent      string
	credential string
	issuerDID  string
	scopes     []string
	audiences  []string
	status     []vc.StatusEntry
	validUntil time.Time
	// chain is the credential's delegation chain (a sub-agent's).
	chain []vc.DelegationLink
}

// refuse builds the refusal of an OAuth request: an *Error whose code is
// the OAuth error code and whose detail starts with the reason of the
// check that failed. Refusals of callers that proved no identity are
// KindUnauthenticated, so that guard aggregates them.
func refuse(kind Kind, code oauth.ErrorCode, r reason.Code, detail string) *Error {
	if r != "" {
		detail = string(r) + ": " + detail
	}
	return &Error{Kind: kind, Code: Code(code), Detail: detail}
}

// exchangeRefusal is a token exchange's refusal of its subject token:
// RFC 8693 §2.2.2 makes a subject token that is "invalid for any reason,
// or [...] unacceptable based on policy" invalid_request, where
// client_credentials answers invalid_grant for the same credential state.
// The reason code and detail stay.
func exchangeRefusal(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code == Code(oauth.InvalidGrant) {
		c := *e
		c.Code = Code(oauth.InvalidRequest)
		return &c
	}
	return err
}

func fromOAuth(err error, kind Kind) error {
	if e, ok := oauth.AsError(err); ok {
		return refuse(kind, e.Code, e.Reason, e.Description)
	}
	return err
}

// OAuthError returns the OAuth error code and description of a refusal
// of the OAuth face, for the HTTP layer; ok is false when err is not one.
func OAuthError(err error) (code oauth.ErrorCode, description string, ok bool) {
	e, ok := Refusal(err)
	if !ok {
		return "", "", false
	}
	switch oauth.ErrorCode(e.Code) {
	case oauth.InvalidRequest, oauth.InvalidClient, oauth.InvalidGrant, oauth.UnauthorizedClient,
		oauth.UnsupportedGrantType, oauth.InvalidScope, oauth.InvalidTarget, oauth.InvalidDPoPProof,
		oauth.UseDPoPNonce, oauth.InvalidToken:
		return oauth.ErrorCode(e.Code), e.Detail, true
	}
	if e.Kind == KindTooLarge || e.Kind == KindInvalid {
		return oauth.InvalidRequest, e.Detail, true
	}
	return "", "", false
}

// Token runs the token endpoint.
func (a *AuthServer) Token(ctx context.Context, r TokenRequest) (*TokenGrant, error) {
	is := a.is
	var out *TokenGrant
	ev := &audit.Event{Action: ActionOAuthToken, Resource: strings.Join(r.Resources, " ")}
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		now := is.cfg.Now()
		if r.DPoP != "" && a.opts.Nonces != nil {
			// Ask for a nonce before anything single-use is consumed (a
			// subject token is, once verified), so that the retry with
			// the nonce can send the same grant.
			_, err := oauth.CheckProof(r.DPoP, oauth.ProofCheck{Method: r.Method, URL: r.URL, Nonces: a.opts.Nonces, Now: now})
			if e, ok := oauth.AsError(err); ok && e.Code == oauth.UseDPoPNonce {
				return fromOAuth(err, KindUnauthenticated)
			}
		}
		var src *grantSource
		var commit []func() error
		switch r.GrantType {
		case oauth.GrantClientCredentials:
			client, done, err := a.authenticateClient(r.ClientID, r.ClientAssertionType, r.ClientAssertion, []string{is.cfg.URL, is.cfg.URL + TokenPath}, now)
			if client != "" {
				ev.Actor, ev.Subject = client, client
			}
			if err != nil {
				return err
			}
			commit = append(commit, done)
			src, err = a.liveCredential(ctx, client, now)
			if src != nil {
				ev.Credential, ev.Delegation = src.credential, auditChain(src.chain)
			}
			if err != nil {
				return err
			}
		case oauth.GrantTokenExchange:
			var err error
			if src, err = a.exchangeSubject(ctx, ev, r, now, &commit); err != nil {
				return exchangeRefusal(err)
			}
		case "":
			return refuse(KindInvalid, oauth.InvalidRequest, "", "grant_type is required")
		default:
			return refuse(KindInvalid, oauth.UnsupportedGrantType, "", "grant types: client_credentials, token exchange")
		}
		ev.Credential = src.credential
		ev.Delegation = auditChain(src.chain)
		scopes, err := grantScopes(r, src)
		if err != nil {
			return err
		}
		ev.Scopes = scopes
		aud, err := grantAudience(r, src)
		if err != nil {
			return err
		}
		// DPoP: required unless every resource asked is one that takes
		// bearer tokens.
		var proof *oauth.Proof
		bearer := false
		if r.DPoP == "" {
			bearer = len(aud) > 0 && a.bearerAllowed(aud)
			if !bearer {
				return refuse(KindInvalid, oauth.InvalidDPoPProof, reason.Malformed, "a DPoP proof is required (RFC 9449)")
			}
		} else {
			var nonces oauth.NonceChecker
			if a.opts.Nonces != nil {
				nonces = a.opts.Nonces
			}
			p, err := oauth.CheckProof(r.DPoP, oauth.ProofCheck{Method: r.Method, URL: r.URL, Nonces: nonces, Now: now})
			if err != nil {
				if e, ok := oauth.AsError(err); ok && e.Code == oauth.UseDPoPNonce {
					// A step of the protocol, not an attack: counted,
					// not one event each.
					return fromOAuth(err, KindUnauthenticated)
				}
				return fromOAuth(err, KindInvalid)
			}
			proof = p
		}
		// Last, the single-use ids: the assertion's (or presentation's)
		// and the proof's.
		for _, c := range commit {
			if err := c(); err != nil {
				return err
			}
		}
		if proof != nil {
			if err := proof.Commit(a.replay, now); err != nil {
				return fromOAuth(err, KindUnauthenticated)
			}
		}
		ttl := a.opts.TokenTTL
		if bearer {
			ttl = a.opts.BearerTTL
		}
		iat := now.Truncate(time.Second)
		exp := iat.Add(ttl)
		if src.validUntil.Before(exp) {
			exp = src.validUntil.Truncate(time.Second)
		}
		if !exp.After(now) {
			err := refuse(KindForbidden, oauth.InvalidGrant, reason.Expired, "the credential expires within the second")
			if r.GrantType == oauth.GrantTokenExchange {
				return exchangeRefusal(err)
			}
			return err
		}
		sub, act := oauth.Delegated(src.agent, src.chain)
		at := &oauth.AccessToken{
			Issuer: is.cfg.URL, Subject: sub, ClientID: src.agent, Audience: vc.Audience(aud),
			Scope: strings.Join(scopes, " "), JTI: uuid.NewString(), IssuedAt: iat.Unix(), Expiry: exp.Unix(),
			CredentialID: src.credential, CredentialStatus: src.status, Act: act, Delegation: src.chain,
		}
		if src.issuerDID != is.did {
			at.CredentialIssuer = src.issuerDID
		}
		if proof != nil {
			at.Confirmation = &oauth.Confirmation{JKT: proof.JKT}
		}
		signer, err := is.Signer(ctx)
		if err != nil {
			return err
		}
		tok, err := oauth.SignAccessToken(signer, at)
		if err != nil {
			return err
		}
		done := *ev
		done.Time, done.Decision = now.UTC(), audit.DecisionAllow
		done.Detail = "token " + at.JTI + " until " + exp.UTC().Format(time.RFC3339)
		if bearer {
			done.Detail += " (bearer)"
		}
		// A grant changes no state (its jtis are in the replay journal):
		// like a verification decision it is recorded before the reply,
		// through the audit journal where there is one, without waiting
		// for a commit (docs/audit.md).
		if err := is.recordDecision(ctx, &done); err != nil {
			return fmt.Errorf("issuer: audit: %w", err)
		}
		out = &TokenGrant{Token: tok, Type: "DPoP", ExpiresIn: exp.Sub(now).Round(time.Second), Claims: at}
		if bearer {
			out.Type = "Bearer"
		}
		return nil
	})
	return out, err
}

func (a *AuthServer) bearerAllowed(aud []string) bool {
	for _, x := range aud {
		ok := false
		for _, b := range a.opts.BearerResources {
			if sameResource(x, b) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// authenticateClient checks a private_key_jwt client assertion and
// returns the client DID (once its signature verified, even when refused
// after) and the step that records the assertion's jti, which the caller
// runs once the whole request is good.
func (a *AuthServer) authenticateClient(clientID, assertionType, assertion string, audiences []string, now time.Time) (string, func() error, error) {
	if assertionType != oauth.ClientAssertionType || assertion == "" {
		return "", nil, refuse(KindUnauthenticated, oauth.InvalidClient, reason.Malformed, "client authentication is private_key_jwt: client_assertion_type jwt-bearer and client_assertion")
	}
	ca, err := oauth.CheckClientAssertion(assertion, oauth.AssertionCheck{ClientID: clientID, Audiences: audiences, Now: now})
	if err != nil {
		client := ""
		if ca != nil {
			// The signature verified: the refusal names the client.
			client = ca.Issuer
		}
		return client, nil, fromOAuth(err, KindUnauthenticated)
	}
	commit := func() error {
		exp := time.Unix(ca.Expiry, 0).Add(oauth.DefaultSkew)
		if err := a.replay.Record(ca.Issuer, "assertion:"+ca.JTI, exp, now); err != nil {
			return refuse(KindUnauthenticated, oauth.InvalidClient, reason.Replayed, "client assertion was already used")
		}
		return nil
	}
	// A replay is refused before anything else is looked at; the atomic
	// record at the end refuses the loser of two concurrent uses.
	if s, ok := a.replay.(interface {
		Seen(holder, jti string, now time.Time) bool
	}); ok && s.Seen(ca.Issuer, "assertion:"+ca.JTI, now) {
		return ca.Issuer, nil, refuse(KindUnauthenticated, oauth.InvalidClient, reason.Replayed, "client assertion was already used")
	}
	return ca.Issuer, commit, nil
}

// liveCredential returns the agent's current credential if it may back a
// token: registered, not retired, credential unexpired, unrevoked and
// unsuspended, and no ancestor retired, revoked or suspended (read in one
// transaction; the status bits are set in the same transactions as these
// records). Refused only for an ancestor, it returns the credential too,
// for the audit event.
func (a *AuthServer) liveCredential(ctx context.Context, agentDID string, now time.Time) (*grantSource, error) {
	var src *grantSource
	err := a.is.db.View(ctx, func(tx store.Tx) error {
		agentBytes := tx.Bucket(bucketAgents).Get([]byte(agentDID))
		if e := a.grants.get(agentDID); e != nil && agentBytes != nil && bytes.Equal(e.agent, agentBytes) {
			if cb := tx.Bucket(bucketCredentials).Get([]byte(e.credID)); cb != nil && bytes.Equal(e.cred, cb) {
				if !now.Before(e.src.validUntil) {
					return refuse(KindForbidden, oauth.InvalidGrant, reason.Expired, "the agent's credential expired; refresh it first")
				}
				// As below: the source is known before the ancestors are
				// checked, so that their refusal is audited with it.
				src = e.src
				if e := ancestorRefusal(tx, e.parent); e != nil {
					return e
				}
				return nil
			}
		}
		var ag agentRecord
		ok, err := getJSON(tx, bucketAgents, agentDID, &ag)
		if err != nil {
			return err
		}
		if !ok {
			return refuse(KindUnauthenticated, oauth.InvalidClient, reason.UnknownKey, "the client is not a registered agent")
		}
		if ag.Retired {
			return refuse(KindForbidden, oauth.InvalidGrant, reason.Code(CodeAgentRetired), "the agent is retired")
		}
		var cr credentialRecord
		ok, err = getJSON(tx, bucketCredentials, ag.CurrentCredential, &cr)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			return refuse(KindForbidden, oauth.InvalidGrant, reason.StatusUnavailable, "the agent holds no credential")
		case cr.Revoked:
			return refuse(KindForbidden, oauth.InvalidGrant, reason.Revoked, "the agent's credential is revoked")
		case cr.Suspended:
			return refuse(KindForbidden, oauth.InvalidGrant, reason.Suspended, "the agent's credential is suspended")
		case !now.Before(cr.ValidUntil):
			return refuse(KindForbidden, oauth.InvalidGrant, reason.Expired, "the agent's credential expired; refresh it first")
		}
		// The token carries every status entry of the credential: its
		// own, then each ancestor's agent-level pair (a sub-agent's), as
		// the credential lays them out.
		src = &grantSource{agent: agentDID, credential: cr.ID, issuerDID: a.is.did, scopes: ag.Scopes, audiences: ag.Audiences,
			status: statusEntries(&ag, cr.Revocation, cr.Suspension), validUntil: cr.ValidUntil, chain: ag.Delegation}
		if e := ancestorRefusal(tx, ag.Parent); e != nil {
			return e
		}
		// Both records passed their MAC check and decoded: remember their
		// bytes (copied: the store's are valid only in the transaction).
		a.grants.put(agentDID, &grantEntry{agent: bytes.Clone(agentBytes),
			cred:   bytes.Clone(tx.Bucket(bucketCredentials).Get([]byte(ag.CurrentCredential))),
			credID: ag.CurrentCredential, parent: ag.Parent, src: src})
		return nil
	})
	return src, err
}

// exchangeSubject verifies a token exchange's subject token, a vp+jwt of
// the agent addressed to the issuer and enveloping its credential.
func (a *AuthServer) exchangeSubject(ctx context.Context, ev *audit.Event, r TokenRequest, now time.Time, commit *[]func() error) (*grantSource, error) {
	if r.SubjectToken == "" || r.SubjectTokenType == "" {
		return nil, refuse(KindInvalid, oauth.InvalidRequest, "", "subject_token and subject_token_type are required")
	}
	if r.SubjectTokenType != oauth.TokenTypeVP {
		return nil, refuse(KindInvalid, oauth.InvalidRequest, "", "subject_token_type must be "+oauth.TokenTypeVP)
	}
	if r.ClientAssertion != "" || r.ClientAssertionType != "" {
		return nil, refuse(KindInvalid, oauth.InvalidRequest, "", "token exchange authenticates by the subject token; send no client assertion")
	}
	if r.ActorToken != "" || r.ActorTokenType != "" {
		// Not ignored: the token would not say what the client asked.
		return nil, refuse(KindInvalid, oauth.InvalidRequest, "", "actor tokens are not supported: a sub-agent's actors come from its credential")
	}
	res, err := a.exchange.Verify(ctx, r.SubjectToken, verifier.Request{Method: r.Method, URL: r.URL})
	if err != nil {
		if holder := holderOf(r.SubjectToken); holder != "" {
			ev.Actor, ev.Subject = holder, holder
		}
		code, _ := reason.CodeOf(err)
		var he *verifier.HolderError
		if errors.As(err, &he) {
			return nil, refuse(KindUnauthenticated, oauth.InvalidGrant, code, "the subject token does not verify")
		}
		return nil, refuse(KindForbidden, oauth.InvalidGrant, code, "the subject token's credential does not allow a token")
	}
	ev.Actor, ev.Subject = res.Agent, res.Agent
	if r.ClientID != "" && r.ClientID != res.Agent {
		return nil, refuse(KindForbidden, oauth.InvalidClient, reason.HolderMismatch, "client_id is not the subject token's holder")
	}
	c := res.Credential
	src := &grantSource{agent: res.Agent, credential: c.ID, issuerDID: c.Issuer.ID, scopes: c.CredentialSubject.Scopes,
		audiences: c.CredentialSubject.Audiences, status: c.CredentialStatus, validUntil: res.ExpiresAt,
		chain: c.CredentialSubject.Delegation}
	ev.Delegation = auditChain(src.chain)
	if c.Issuer.ID == a.is.did {
		// This issuer's own credential: its records are authoritative.
		own, err := a.liveCredential(ctx, res.Agent, now)
		if err != nil {
			return nil, err
		}
		if own.credential != c.ID {
			return nil, refuse(KindForbidden, oauth.InvalidGrant, reason.Revoked, "only the agent's current credential is exchanged")
		}
	}
	return src, nil
}

// grantScopes returns the scopes of the token: those asked, each granted
// by the credential, or all the credential's when none are asked.
func grantScopes(r TokenRequest, src *grantSource) ([]string, error) {
	if !r.HasScope {
		return slices.Clone(src.scopes), nil
	}
	asked := strings.Fields(r.Scope)
	if len(asked) == 0 {
		return nil, refuse(KindInvalid, oauth.InvalidScope, "", "scope is empty")
	}
	var out []string
	for _, s := range asked {
		if !slices.Contains(src.scopes, s) {
			return nil, refuse(KindForbidden, oauth.InvalidScope, reason.InsufficientScope, "scope "+truncate(s)+" is not granted by the credential")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// grantAudience returns the token's aud: the resources asked (RFC 8707),
// each one of the credential's audiences, or the credential's only
// audience when none is asked.
func grantAudience(r TokenRequest, src *grantSource) ([]string, error) {
	for _, x := range r.Resources {
		// RFC 8707 §2: an absolute URI that "MUST NOT include a fragment
		// component" (URLs are compared without one, so it would match).
		if strings.Contains(x, "#") {
			return nil, refuse(KindInvalid, oauth.InvalidTarget, reason.Malformed, "resource "+truncate(x)+" has a fragment (RFC 8707)")
		}
	}
	asked := r.Resources
	if r.Audience != "" {
		asked = append(slices.Clone(asked), r.Audience)
	}
	if len(asked) == 0 {
		if len(src.audiences) == 1 {
			return []string{src.audiences[0]}, nil
		}
		return nil, refuse(KindInvalid, oauth.InvalidTarget, "", "the credential names several audiences: say which with resource")
	}
	var out []string
	for _, x := range asked {
		i := slices.IndexFunc(src.audiences, func(a string) bool { return sameResource(a, x) })
		if i < 0 {
			return nil, refuse(KindForbidden, oauth.InvalidTarget, reason.WrongAudience, "resource "+truncate(x)+" is not among the credential's audiences")
		}
		if !slices.Contains(out, src.audiences[i]) {
			out = append(out, src.audiences[i])
		}
	}
	return out, nil
}

// sameResource compares resource identifiers: URLs in their RFC 3986
// normal form (a trailing slash on an empty path does not count), other
// strings exactly.
func sameResource(a, b string) bool {
	if a == b {
		return true
	}
	return oauth.SameURL(a, b)
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Introspect answers RFC 7662 for a caller authenticated by a
// private_key_jwt assertion as a registered principal with the resource or
// admin role. A token is active when its signature is the issuer's, it is
// unexpired, not revoked through Revoke, and the credential it derives
// from is neither revoked nor suspended (read from the store now).
func (a *AuthServer) Introspect(ctx context.Context, clientID, assertionType, assertion, token string) (*oauth.Introspection, error) {
	is := a.is
	var out *oauth.Introspection
	err := is.guard(ctx, &audit.Event{Action: ActionOAuthIntrospect}, func(ev *audit.Event) error {
		now := is.cfg.Now()
		if _, err := a.authenticatePrincipal(ctx, ev, clientID, assertionType, assertion, IntrospectPath, now, RoleResource, RoleAdmin); err != nil {
			return err
		}
		if token == "" {
			return refuse(KindInvalid, oauth.InvalidRequest, "", "token is required")
		}
		out = &oauth.Introspection{Active: false}
		at, err := a.activeToken(ctx, token, now)
		if err != nil {
			if _, ok := reason.CodeOf(err); ok {
				return nil // inactive: RFC 7662 says no more
			}
			return err
		}
		ev.Subject, ev.Credential, ev.Delegation = at.ClientID, at.CredentialID, auditChain(at.Delegation)
		out = &oauth.Introspection{Active: true, Scope: at.Scope, ClientID: at.ClientID, TokenType: "Bearer",
			Exp: at.Expiry, Iat: at.IssuedAt, Sub: at.Subject, Aud: at.Audience, Iss: at.Issuer, Jti: at.JTI,
			Cnf: at.Confirmation, CredentialID: at.CredentialID, Act: at.Act}
		if at.Confirmation != nil {
			out.TokenType = "DPoP"
		}
		return nil
	})
	return out, err
}

// activeToken verifies one of the issuer's access tokens and its state
// now; a refusal carries a reason code.
func (a *AuthServer) activeToken(ctx context.Context, token string, now time.Time) (*oauth.AccessToken, error) {
	is := a.is
	at, err := oauth.VerifyAccessToken(token, is.did, func(kid string) (crypto.PublicKey, error) {
		return is.resolver.ResolveKey(ctx, kid, "assertionMethod")
	})
	if err != nil {
		return nil, err
	}
	if at.Issuer != is.cfg.URL {
		return nil, reason.New(reason.UntrustedIssuer, "not this issuer's token")
	}
	if !now.Before(time.Unix(at.Expiry, 0)) {
		return nil, reason.New(reason.Expired, "token expired")
	}
	var revoked bool
	err = is.db.View(ctx, func(tx store.Tx) error {
		revoked = tx.Bucket(bucketRevokedTokens).Get([]byte(at.JTI)) != nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, reason.New(reason.Revoked, "token revoked")
	}
	var status verifier.StatusChecker = is.StatusChecker()
	credIssuer := is.did
	if at.CredentialIssuer != "" && at.CredentialIssuer != is.did {
		// An exchanged credential of another issuer: its status is that
		// issuer's.
		if status, credIssuer = a.opts.Status, at.CredentialIssuer; status == nil {
			return nil, reason.New(reason.StatusUnavailable, "no status checker for other issuers")
		}
	}
	if err := status.Check(ctx, credIssuer, at.CredentialStatus); err != nil {
		return nil, err
	}
	return at, nil
}

// authenticatePrincipal checks a private_key_jwt assertion of a
// registered principal with one of roles.
func (a *AuthServer) authenticatePrincipal(ctx context.Context, ev *audit.Event, clientID, assertionType, assertion, path string, now time.Time, roles ...Role) (*Principal, error) {
	u := a.is.cfg.URL
	client, commit, err := a.authenticateClient(clientID, assertionType, assertion, []string{u, u + path, u + TokenPath}, now)
	if client != "" {
		ev.Actor = client
	}
	if err != nil {
		return nil, err
	}
	p, err := a.is.Principal(ctx, client)
	if err != nil {
		if e, ok := Refusal(err); ok && e.Code == CodeUnknownPrincipal {
			return nil, refuse(KindUnauthenticated, oauth.InvalidClient, reason.UnknownKey, "the client is not a registered principal")
		}
		return nil, err
	}
	if !slices.Contains(roles, p.Role) {
		return nil, refuse(KindForbidden, oauth.UnauthorizedClient, "", "role "+string(p.Role)+" may not call this endpoint")
	}
	if err := commit(); err != nil {
		return nil, err
	}
	return p, nil
}

// Revoke answers RFC 7009: the agent a token was issued to, or an admin,
// revokes it; introspection answers inactive from then on. A token that is
// not the issuer's, already expired, or the caller's no business is
// answered as revoked (RFC 7009 §2.2) without any change. Resource servers
// that check tokens offline do not see a token revocation: revoke the
// credential for that (docs/oauth.md).
func (a *AuthServer) Revoke(ctx context.Context, clientID, assertionType, assertion, token string) error {
	is := a.is
	return is.guard(ctx, &audit.Event{Action: ActionOAuthRevoke}, func(ev *audit.Event) error {
		now := is.cfg.Now()
		u := is.cfg.URL
		client, commit, err := a.authenticateClient(clientID, assertionType, assertion, []string{u, u + RevokePath, u + TokenPath}, now)
		if client != "" {
			ev.Actor = client
		}
		if err != nil {
			return err
		}
		if token == "" {
			return refuse(KindInvalid, oauth.InvalidRequest, "", "token is required")
		}
		if err := commit(); err != nil {
			return err
		}
		at, err := oauth.VerifyAccessToken(token, is.did, func(kid string) (crypto.PublicKey, error) {
			return is.resolver.ResolveKey(ctx, kid, "assertionMethod")
		})
		if err != nil || !now.Before(time.Unix(at.Expiry, 0)) {
			return nil
		}
		if at.ClientID != client {
			p, err := is.Principal(ctx, client)
			if err != nil || p.Role != RoleAdmin {
				// RFC 7009 §2.1: a token not issued to the caller is
				// refused, and the caller told (as Keycloak does,
				// unauthorized_client); it holds the token already, so
				// the answer tells it nothing new.
				ev.Subject, ev.Credential = at.ClientID, at.CredentialID
				return refuse(KindForbidden, oauth.UnauthorizedClient, reason.HolderMismatch, "the token was not issued to the caller")
			}
		}
		ev.Subject, ev.Credential = at.ClientID, at.CredentialID
		return is.db.Update(ctx, func(tx store.Tx) error {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], uint64(at.Expiry))
			if err := tx.Bucket(bucketRevokedTokens).Put([]byte(at.JTI), v[:]); err != nil {
				return err
			}
			done := *ev
			done.Time, done.Decision, done.Detail = now.UTC(), audit.DecisionAllow, "token "+at.JTI
			return is.audit.AppendTx(tx, &done)
		})
	})
}
