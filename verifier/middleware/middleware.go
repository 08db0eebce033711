// Package middleware protects net/http handlers with agentid presentations.
//
// Require reads "Authorization: VP <vp+jwt>", verifies it with the request's
// method and URL and the route's scopes, and puts the result in the request
// context; refusals are RFC 9457 problem details with the reason code, 401
// with a WWW-Authenticate challenge, or 403 when the agent is known but the
// credential does not allow the request. A request without the header is
// refused as malformed; it still goes through Verify, so that every request
// leaves exactly one audit event when the verifier has an audit sink. When
// the verifier fails without a reason code (its audit sink failed), the
// response is 503 with code "unavailable".
//
//	mux.Handle("GET /v1/events", middleware.Require(mw, "calendar:read")(events))
//	...
//	res, _ := middleware.FromContext(r.Context()) // res.Agent, res.Scopes, ...
package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
)

type ctxKey struct{}

// FromContext returns the verification result that Require stored.
func FromContext(ctx context.Context) (*verifier.Result, bool) {
	r, ok := ctx.Value(ctxKey{}).(*verifier.Result)
	return r, ok
}

// Config configures the middleware.
type Config struct {
	// Verifier checks presentations (required). Its audience is the realm.
	Verifier *verifier.Verifier
	// BaseURL is the API's external origin ("https://calendar.example.com"),
	// used to rebuild the request URL for htu behind proxies. When empty the
	// URL is taken from the request (TLS → https, Host header).
	BaseURL string
	// SourceIP returns the caller's address for sourceNetworks constraints;
	// the default is the connection's remote address. Set it when behind a
	// trusted proxy.
	SourceIP func(r *http.Request) string
	// ResourceMetadata is the URL of the API's protected resource metadata
	// (RFC 9728, see ProtectedResource). When set, 401 answers carry
	// DPoP and Bearer challenges naming it, so that OAuth clients (MCP
	// hosts) find the authorization server. OAuth access tokens
	// (Authorization: DPoP) are accepted whether or not it is set.
	ResourceMetadata string
	// ChallengeScopes are the scopes a 401's DPoP and Bearer challenges ask
	// for (the scope attribute, RFC 6750 §3) when the route itself names
	// none. MCP hosts request exactly the challenge's scope, and without
	// it every scope of the resource metadata's scopes_supported, which an
	// agent granted fewer is refused (invalid_scope); an MCP endpoint,
	// whose tools check their own scopes, sets its least privilege here.
	ChallengeScopes []string
}

// RequestURL rebuilds the request's absolute URL without query.
func (c *Config) RequestURL(r *http.Request) string {
	if c.BaseURL != "" {
		return strings.TrimSuffix(c.BaseURL, "/") + r.URL.EscapedPath()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

func (c *Config) sourceIP(r *http.Request) string {
	if c.SourceIP != nil {
		return c.SourceIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Presentation extracts the vp+jwt from "Authorization: VP <token>".
func Presentation(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "VP") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// Check verifies the request and returns the result, or writes the refusal
// and returns nil. It is the shared core of the net/http and gin
// middlewares.
func (c *Config) Check(w http.ResponseWriter, r *http.Request, scopes []string) *verifier.Result {
	if cred, ok := accessCredential(r.Header); ok {
		return c.checkToken(w, r, cred, scopes)
	}
	tok, ok := Presentation(r.Header)
	rid := requestID(r.Header.Get("X-Request-Id"))
	// A request without a presentation is still handed to Verify, which
	// refuses the empty token as malformed, so that every refusal leaves
	// one audit event like any other decision.
	res, err := c.Verifier.Verify(r.Context(), tok, verifier.Request{
		Method: r.Method, URL: c.RequestURL(r), Scopes: scopes,
		SourceIP: c.sourceIP(r), RequestID: rid,
	})
	if err == nil && !ok {
		// Unreachable (an empty token never verifies); fail closed anyway.
		err = reason.New(reason.Malformed, "")
	}
	if err != nil {
		code, hasCode := reason.CodeOf(err)
		if !hasCode {
			// No reason code: the audit trail could not be written.
			problem.Write(w, http.StatusServiceUnavailable, "unavailable", "")
			return nil
		}
		var detail string
		if re := (*reason.Error)(nil); errors.As(err, &re) {
			detail = re.Detail
		}
		if !ok {
			code, detail = reason.Malformed, "missing Authorization: VP header"
		}
		switch code {
		case reason.InsufficientScope, reason.ConstraintViolated:
			w.Header().Set("WWW-Authenticate", `VP realm="`+c.Verifier.Audience()+`", error="`+string(code)+`"`)
			problem.Write(w, http.StatusForbidden, string(code), detail)
		default:
			c.challenge(w, code, detail, scopes)
		}
		return nil
	}
	return res
}

// maxRequestIDLen bounds a caller's X-Request-Id, which goes into the audit
// event: an oversized one would make the event unrecordable.
const maxRequestIDLen = 128

// requestID returns the caller's request id when it is short printable
// ASCII, else a fresh random one.
func requestID(h string) string {
	ok := h != "" && len(h) <= maxRequestIDLen
	for i := 0; ok && i < len(h); i++ {
		ok = h[i] > 0x20 && h[i] < 0x7f
	}
	if ok {
		return h
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *Config) challenge(w http.ResponseWriter, code reason.Code, detail string, scopes []string) {
	h := `VP realm="` + c.Verifier.Audience() + `"`
	if n := c.Verifier.Nonces(); n != nil {
		h += `, nonce="` + n.Issue(c.Verifier.Now()) + `"`
	}
	h += `, error="` + string(code) + `"`
	w.Header().Set("WWW-Authenticate", h)
	// An OAuth client that sent nothing learns where to get a token.
	c.oauthChallenges(w, "", "", scopes)
	problem.Write(w, http.StatusUnauthorized, string(code), detail)
}

// Require returns middleware that admits only requests carrying a valid
// presentation whose credential grants every one of scopes.
func Require(c *Config, scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res := c.Check(w, r, scopes)
			if res == nil {
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, res)))
		})
	}
}

// WithResult returns ctx carrying res, for adapters to other routers.
func WithResult(ctx context.Context, res *verifier.Result) context.Context {
	return context.WithValue(ctx, ctxKey{}, res)
}
