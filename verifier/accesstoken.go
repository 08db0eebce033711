package verifier

import (
	"context"
	"crypto"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
)

// AccessCredential is an OAuth access token as a request carries it: the
// Authorization scheme ("DPoP" or "Bearer"), the token, and the DPoP
// header's proof ("" for none).
type AccessCredential struct {
	Scheme string
	Token  string
	Proof  string
}

// WithBearerTokens makes VerifyAccessToken accept tokens that are not
// DPoP-bound (cnf absent) sent with the Bearer scheme: the documented
// switch for clients that cannot do DPoP (docs/oauth.md, "Bearer
// tokens"). Such a token proves nothing about who sends it; the issuer
// makes them short-lived and bound to one resource. DPoP-bound tokens
// still need their proof.
func WithBearerTokens() Option {
	return func(v *Verifier) error { v.bearer = true; return nil }
}

// WithDPoPNonces makes VerifyAccessToken require DPoP proofs to carry a
// nonce n accepts (RFC 9449 §9): a proof without a fresh one is refused
// with use_dpop_nonce, and the middleware sends a new nonce.
func WithDPoPNonces(n *oauth.Nonces) Option {
	return func(v *Verifier) error { v.dpopNonces = n; return nil }
}

// DPoPNonces returns the DPoP nonce source (nil when nonces are not
// required).
func (v *Verifier) DPoPNonces() *oauth.Nonces { return v.dpopNonces }

// BearerAllowed reports whether bearer tokens are accepted.
func (v *Verifier) BearerAllowed() bool { return v.bearer }

// VerifyAccessToken checks an access token of a trusted issuer offline, as
// a resource server must on every request: the token (typ at+jwt,
// signature by a key of the issuer iss names, exp, aud = the request's
// audience), its binding (a DPoP proof for the request, signed by the key
// cnf.jkt names, single-use, with the token's hash; or, only with
// WithBearerTokens, no binding), the credential's status bits through the
// verifier's status checker (a revocation seen at once when it follows the
// issuer's feed), and the request's scopes. Refusals are *oauth.Error
// carrying the OAuth code (invalid_token, invalid_dpop_proof,
// use_dpop_nonce, insufficient_scope) and the reason code of the failed
// check; each decision is audited and observed as Verify's are.
func (v *Verifier) VerifyAccessToken(ctx context.Context, cred AccessCredential, req Request) (*Result, error) {
	return v.decide(ctx, req, func(now time.Time, who *authenticated, sl *slot) (*Result, error) {
		return v.verifyAccessToken(ctx, cred, req, now, who, sl)
	})
}

func badToken(r reason.Code, d string) error { return oauth.Errorf(oauth.InvalidToken, r, d) }

func (v *Verifier) verifyAccessToken(ctx context.Context, cred AccessCredential, req Request, now time.Time, who *authenticated, sl *slot) (*Result, error) {
	scheme := strings.ToLower(cred.Scheme)
	if scheme != "dpop" && scheme != "bearer" {
		return nil, badToken(reason.Malformed, "the Authorization scheme must be DPoP")
	}
	if cred.Token == "" {
		return nil, badToken(reason.Malformed, "no access token")
	}
	at, issuerDID, err := v.accessToken(ctx, cred.Token, now, sl)
	if err != nil {
		return nil, err
	}
	// The agent acting is the client the token was issued to (for a
	// sub-agent, sub is the root agent of its tree: oauth.Delegated).
	who.holder, who.credential, who.chain = at.ClientID, at.CredentialID, at.Delegation
	exp := time.Unix(at.Expiry, 0)
	if now.After(exp.Add(v.skew)) {
		return nil, badToken(reason.Expired, "the token expired")
	}
	if time.Unix(at.IssuedAt, 0).After(now.Add(v.skew)) {
		return nil, badToken(reason.NotYetValid, "the token is from the future")
	}
	aud := v.aud(req)
	if aud == "" || !slices.ContainsFunc(at.Audience, func(a string) bool { return a == aud || oauth.SameURL(a, aud) }) {
		return nil, badToken(reason.WrongAudience, "the token is not for "+aud)
	}
	var proof *oauth.Proof
	switch {
	case at.Confirmation != nil:
		// RFC 9449 §7.1: a DPoP-bound token travels with the DPoP scheme
		// and a proof, never as a bearer token.
		if scheme != "dpop" {
			return nil, badToken(reason.Malformed, "a DPoP-bound token must be sent with the DPoP scheme")
		}
		var nonces oauth.NonceChecker
		if v.dpopNonces != nil {
			nonces = v.dpopNonces
		}
		p, err := oauth.CheckProof(cred.Proof, oauth.ProofCheck{Method: req.Method, URL: req.URL, AccessToken: cred.Token,
			Nonces: nonces, Now: now, Skew: v.skew})
		if err != nil {
			return nil, err
		}
		if p.JKT != at.Confirmation.JKT {
			return nil, oauth.Errorf(oauth.InvalidDPoPProof, reason.HolderMismatch, "the DPoP proof is not signed by the token's key")
		}
		proof = p
	case !v.bearer:
		return nil, badToken(reason.Malformed, "bearer tokens are not accepted: a DPoP-bound token is required")
	case scheme != "bearer" || cred.Proof != "":
		return nil, badToken(reason.Malformed, "an unbound token is sent with the Bearer scheme and no proof")
	}
	credIssuer := issuerDID
	if at.CredentialIssuer != "" {
		if !v.trusted[at.CredentialIssuer] {
			return nil, badToken(reason.UntrustedIssuer, "the credential's issuer is not trusted")
		}
		credIssuer = at.CredentialIssuer
	}
	if !hasPurpose(at.CredentialStatus, "revocation") {
		return nil, badToken(reason.StatusUnavailable, "the token carries no revocation status entry")
	}
	err = sl.outside(ctx, func() error {
		err := v.status.Check(ctx, credIssuer, at.CredentialStatus)
		if err != nil {
			// A sub-agent's token: name the ancestor behind a refusal.
			err = v.blameChain(ctx, credIssuer, at.Delegation, at.CredentialStatus, err)
		}
		return err
	})
	if err != nil {
		code, ok := reason.CodeOf(err)
		if !ok {
			code = reason.StatusUnavailable
		}
		desc := "the credential behind the token is " + string(code)
		var re *reason.Error
		if errors.As(err, &re) && strings.HasPrefix(re.Detail, "verifier: ancestor ") {
			desc = strings.TrimPrefix(re.Detail, "verifier: ")
		}
		return nil, &oauth.Error{Code: oauth.InvalidToken, Reason: code, Description: desc, Err: err}
	}
	scopes := at.Scopes()
	for _, s := range req.Scopes {
		if !slices.Contains(scopes, s) {
			return nil, oauth.Errorf(oauth.InsufficientScope, reason.InsufficientScope, "scope "+s+" is not granted")
		}
	}
	if proof != nil {
		if err := proof.Commit(v.replay, now); err != nil {
			return nil, err
		}
	}
	return &Result{Agent: at.ClientID, Issuer: credIssuer, Scopes: scopes, CredentialID: at.CredentialID, ExpiresAt: exp,
		Delegation: at.Delegation, AccessToken: at}, nil
}

// accessToken parses and verifies a token's signature, through the token
// cache: a token is presented on every request of its few minutes, and
// its signature needs checking once. Everything else (exp, aud, binding,
// status, scopes) is checked on every request.
func (v *Verifier) accessToken(ctx context.Context, token string, now time.Time, sl *slot) (*oauth.AccessToken, string, error) {
	if e, ok := v.tokens.get(token, now); ok {
		return e.at, e.issuer, nil
	}
	t, at, err := oauth.ParseAccessToken(token)
	if err != nil {
		code, _ := reason.CodeOf(err)
		return nil, "", badToken(code, "not an at+jwt access token")
	}
	issuerDID, ok := v.tokens.issuerDID(at.Issuer)
	if !ok {
		issuerDID, err = did.WebDID(at.Issuer)
	}
	if err != nil || !v.trusted[issuerDID] {
		return nil, "", badToken(reason.UntrustedIssuer, "the token's issuer is not trusted")
	}
	keys := v.keys
	if sl != nil && sl.ch != nil {
		keys = slotResolver{slot: sl, keys: v.keys}
	}
	err = oauth.VerifyParsed(t, issuerDID, func(kid string) (crypto.PublicKey, error) {
		return keys.ResolveKey(ctx, kid, did.AssertionMethod)
	})
	if err != nil {
		code, ok := reason.CodeOf(err)
		if !ok {
			code = reason.UnknownKey
		}
		return nil, "", badToken(code, "the token's signature does not verify")
	}
	v.tokens.put(token, tokenEntry{at: at, issuer: issuerDID}, time.Unix(at.Expiry, 0), now, at.Issuer)
	return at, issuerDID, nil
}

// tokenCache remembers access tokens whose signature verified, keyed by
// the whole token (a map lookup compares it in full), until they expire
// or for sigCacheTTL at most, so that a retired issuer key stops
// verifying cached tokens soon. Its size is the signature cache's.
type tokenCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]tokenEntry
	// issuers maps the iss of tokens that verified to its did:web DID
	// (did.WebDID), at most maxIssuerNames of them: a new token of a known
	// issuer skips parsing its URL.
	issuers map[string]string
}

// maxIssuerNames bounds tokenCache.issuers: a few trusted issuers, each
// perhaps spelt a few ways.
const maxIssuerNames = 64

// issuerDID returns the did:web DID of a token issuer URL seen before.
func (c *tokenCache) issuerDID(iss string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.RLock()
	d, ok := c.issuers[iss]
	c.mu.RUnlock()
	return d, ok
}

type tokenEntry struct {
	at     *oauth.AccessToken
	issuer string
	exp    int64
}

func (c *tokenCache) get(k string, now time.Time) (tokenEntry, bool) {
	if c == nil {
		return tokenEntry{}, false
	}
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || e.exp < now.UnixNano() {
		return tokenEntry{}, false
	}
	return e, true
}

func (c *tokenCache) put(k string, e tokenEntry, exp, now time.Time, iss string) {
	if c == nil {
		return
	}
	if lim := now.Add(sigCacheTTL); lim.Before(exp) {
		exp = lim
	}
	e.exp = exp.UnixNano()
	k = strings.Clone(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]tokenEntry{}
	}
	if len(c.m) >= c.max {
		n := now.UnixNano()
		for key, x := range c.m {
			if x.exp < n || len(c.m) > c.max*3/4 {
				delete(c.m, key)
			}
		}
	}
	c.m[k] = e
	if _, ok := c.issuers[iss]; !ok && len(c.issuers) < maxIssuerNames {
		if c.issuers == nil {
			c.issuers = map[string]string{}
		}
		c.issuers[strings.Clone(iss)] = e.issuer
	}
}
