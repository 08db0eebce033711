package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/verifier"
)

// The OAuth 2.1 face (docs/oauth.md): authorization server metadata, the
// JWK Set, and the token, introspection and revocation endpoints. Bodies
// are form-encoded (RFC 6749 §3.2), answers are JSON with Cache-Control:
// no-store, errors are RFC 6749 §5.2 objects.

// newAuthServer builds the issuer's OAuth face; exchange verifies the
// presentations of token exchange (this issuer and the trusted ones).
func (s *Server) newAuthServer(exchange *verifier.Verifier, status verifier.StatusChecker) error {
	var nonces *oauth.Nonces
	if s.app.cfg.OAuthDPoPNonce {
		var err error
		// Under a key derived from the master key: every replica accepts
		// the nonces of every other, and of an earlier process.
		if nonces, err = oauth.NewNonces(s.app.dpopNonceKey, 0); err != nil {
			return err
		}
	}
	as, err := issuer.NewAuthServer(s.app.Issuer, issuer.AuthServerOptions{
		BearerResources: s.app.cfg.OAuthBearerResources,
		Nonces:          nonces,
		Replay:          s.app.replayIssuer,
		Exchange:        exchange,
		Status:          status,
	})
	if err != nil {
		return err
	}
	s.oauth, s.dpopNonces = as, nonces
	return nil
}

// exchangeVerifier verifies token-exchange presentations: addressed to
// the issuer, enveloping a credential of a trusted issuer.
func (s *Server) exchangeVerifier(keys *routeResolver, status verifier.StatusChecker) (*verifier.Verifier, error) {
	return verifier.New(verifier.WithKeyResolver(keys),
		verifier.WithTrustedIssuers(append([]string{s.app.Issuer.DID()}, s.app.cfg.TrustedIssuers...)...),
		verifier.WithStatusChecker(status), verifier.WithClock(s.app.cfg.Now),
		verifier.WithAudience(s.app.cfg.IssuerURL), verifier.WithIssuerAudience(),
		verifier.WithReplayCache(s.app.replayIssuer))
}

func (s *Server) oauthRoutes(r *gin.Engine) {
	base := issuerPath(s.app.cfg.IssuerURL)
	// RFC 8414 §3.1: the well-known segment goes between the host and the
	// issuer's path.
	r.GET("/.well-known/oauth-authorization-server"+base, s.oauthMetadata)
	r.GET(base+issuer.JWKSPath, s.jwks)
	r.POST(base+issuer.TokenPath, s.oauthToken)
	r.POST(base+issuer.IntrospectPath, s.oauthIntrospect)
	r.POST(base+issuer.RevokePath, s.oauthRevoke)
	authorize := func(c *gin.Context) {
		s.oauthError(c, http.StatusBadRequest, "unsupported_response_type", "this server has no authorization endpoint: agents use client_credentials with private_key_jwt")
	}
	r.GET(base+"/oauth/authorize", authorize)
	r.POST(base+"/oauth/authorize", authorize)
}

func (s *Server) oauthMetadata(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, s.oauth.Metadata())
}

func (s *Server) jwks(c *gin.Context) {
	set, err := s.oauth.JWKS(c.Request.Context())
	if err != nil {
		s.oauthFail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Header("Content-Type", "application/jwk-set+json")
	b, _ := json.Marshal(set)
	c.Writer.WriteHeader(http.StatusOK)
	_, _ = c.Writer.Write(b)
}

// oauthForm reads a form-encoded body within the route's bound. Every
// parameter may appear once, except resource (RFC 8707 §2); one sent
// without a value is dropped, as if omitted (RFC 6749 §3.1).
func (s *Server) oauthForm(c *gin.Context) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		s.oauthError(c, http.StatusBadRequest, oauth.InvalidRequest, "the body must be application/x-www-form-urlencoded")
		return nil, false
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.oauthError(c, http.StatusRequestEntityTooLarge, oauth.InvalidRequest, "body over "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
			return nil, false
		}
		s.oauthError(c, http.StatusBadRequest, oauth.InvalidRequest, "the body could not be read")
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.oauthError(c, http.StatusBadRequest, oauth.InvalidRequest, "the body is not form-encoded")
		return nil, false
	}
	for k, v := range form {
		if len(v) > 1 && k != "resource" {
			s.oauthError(c, http.StatusBadRequest, oauth.InvalidRequest, "parameter "+truncParam(k)+" is repeated")
			return nil, false
		}
	}
	// RFC 6749 §2.3: a client uses one authentication method per request
	// (§5.2: more than one is invalid_request). Ours is the assertion;
	// an Authorization header or a client_secret beside it is another.
	if form.Get("client_assertion") != "" && (c.GetHeader("Authorization") != "" || form.Get("client_secret") != "") {
		s.oauthError(c, http.StatusBadRequest, oauth.InvalidRequest, "more than one client authentication method: send only the client assertion")
		return nil, false
	}
	// RFC 6749 §3.1: "Parameters sent without a value MUST be treated as
	// if they were omitted from the request."
	for k, v := range form {
		if v = slices.DeleteFunc(v, func(x string) bool { return x == "" }); len(v) == 0 {
			delete(form, k)
		} else {
			form[k] = v
		}
	}
	return form, true
}

func truncParam(k string) string {
	if len(k) > 40 {
		return k[:40]
	}
	return k
}

func (s *Server) oauthToken(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	s.nonceHeader(c)
	form, ok := s.oauthForm(c)
	if !ok {
		return
	}
	proofs := c.Request.Header.Values("DPoP")
	if len(proofs) > 1 {
		s.oauthError(c, http.StatusBadRequest, oauth.InvalidDPoPProof, "one DPoP header at most")
		return
	}
	req := issuer.TokenRequest{
		GrantType: form.Get("grant_type"), ClientID: form.Get("client_id"),
		ClientAssertionType: form.Get("client_assertion_type"), ClientAssertion: form.Get("client_assertion"),
		Scope: form.Get("scope"), HasScope: form.Has("scope"), Resources: form["resource"],
		Audience: form.Get("audience"), SubjectToken: form.Get("subject_token"), SubjectTokenType: form.Get("subject_token_type"),
		ActorToken: form.Get("actor_token"), ActorTokenType: form.Get("actor_token_type"),
		Method: c.Request.Method, URL: s.requestURL(c),
	}
	if len(proofs) == 1 {
		req.DPoP = proofs[0]
	}
	g, err := s.oauth.Token(withSource(c), req)
	s.count("oauth.token", err)
	if err != nil {
		s.oauthFail(c, err)
		return
	}
	resp := oauth.TokenResponse{AccessToken: g.Token, TokenType: g.Type, ExpiresIn: int64(g.ExpiresIn.Seconds()), Scope: g.Claims.Scope}
	if req.GrantType == oauth.GrantTokenExchange {
		resp.IssuedTokenType = oauth.TokenTypeAccessToken
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) oauthIntrospect(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	form, ok := s.oauthForm(c)
	if !ok {
		return
	}
	res, err := s.oauth.Introspect(withSource(c), form.Get("client_id"), form.Get("client_assertion_type"), form.Get("client_assertion"), form.Get("token"))
	if err != nil {
		s.oauthFail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) oauthRevoke(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	form, ok := s.oauthForm(c)
	if !ok {
		return
	}
	if err := s.oauth.Revoke(withSource(c), form.Get("client_id"), form.Get("client_assertion_type"), form.Get("client_assertion"), form.Get("token")); err != nil {
		s.oauthFail(c, err)
		return
	}
	c.Status(http.StatusOK)
}

// nonceHeader sends a fresh DPoP nonce when nonces are required (RFC 9449
// §8: on the error that asks for one, and on any answer).
func (s *Server) nonceHeader(c *gin.Context) {
	if s.dpopNonces != nil {
		c.Header("DPoP-Nonce", s.dpopNonces.Issue(s.app.cfg.Now()))
	}
}

// oauthFail writes err as an RFC 6749 §5.2 error: a refusal with its
// OAuth code, a storage failure as 503 temporarily_unavailable, anything
// else as a 500 server_error whose cause is logged, never shown.
func (s *Server) oauthFail(c *gin.Context, err error) {
	if code, desc, ok := issuer.OAuthError(err); ok {
		st := code.Status()
		if e, _ := issuer.Refusal(err); e != nil && e.Kind == issuer.KindTooLarge {
			st = http.StatusRequestEntityTooLarge
		}
		s.oauthError(c, st, code, desc)
		return
	}
	if unavailable(err) {
		c.Header("Retry-After", problem.UnavailableRetryAfter)
		s.oauthError(c, http.StatusServiceUnavailable, oauth.TemporarilyUnavailable, "storage unavailable; retry later")
		return
	}
	s.app.log.Error("request failed", "rid", rid(c), "route", c.FullPath(), "err", err)
	s.oauthError(c, http.StatusInternalServerError, oauth.ServerError, "")
}

func (s *Server) oauthError(c *gin.Context, status int, code oauth.ErrorCode, desc string) {
	c.Header("Cache-Control", "no-store")
	if code == oauth.InvalidClient {
		c.Header("WWW-Authenticate", clientChallenge(c.GetHeader("Authorization")))
	}
	c.JSON(status, oauth.ErrorResponse{Error: code, ErrorDescription: desc})
	c.Abort()
}

// clientChallenge is the WWW-Authenticate of an invalid_client answer. RFC
// 6749 §5.2: when the client sent an Authorization header, the challenge
// matches the scheme it used (Basic needs a realm, RFC 7617 §2); Bearer
// otherwise.
func clientChallenge(authorization string) string {
	scheme, _, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		return `Basic realm="agentid", error="invalid_client"`
	case scheme != "" && isToken(scheme):
		return scheme + ` error="invalid_client"`
	}
	return `Bearer error="invalid_client"`
}

// isToken reports whether s is an RFC 9110 §5.6.2 token (an auth scheme).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return s != ""
}
