package middleware

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
)

// accessCredential reads "Authorization: DPoP <token>" or "Bearer
// <token>" and the DPoP header. A request with two DPoP headers is given
// an unusable proof, which is refused as malformed.
func accessCredential(h http.Header) (verifier.AccessCredential, bool) {
	scheme, tok, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !(strings.EqualFold(scheme, "DPoP") || strings.EqualFold(scheme, "Bearer")) {
		return verifier.AccessCredential{}, false
	}
	cred := verifier.AccessCredential{Scheme: scheme, Token: strings.TrimSpace(tok)}
	switch proofs := h.Values("DPoP"); len(proofs) {
	case 0:
	case 1:
		cred.Proof = proofs[0]
	default:
		cred.Proof = "several DPoP headers"
	}
	return cred, true
}

// checkToken is Check for an OAuth access token.
func (c *Config) checkToken(w http.ResponseWriter, r *http.Request, cred verifier.AccessCredential, scopes []string) *verifier.Result {
	res, err := c.Verifier.VerifyAccessToken(r.Context(), cred, verifier.Request{
		Method: r.Method, URL: c.RequestURL(r), Scopes: scopes,
		SourceIP: c.sourceIP(r), RequestID: requestID(r.Header.Get("X-Request-Id")),
	})
	if err == nil {
		return res
	}
	code, hasCode := reason.CodeOf(err)
	oe, isOAuth := oauth.AsError(err)
	if !hasCode || !isOAuth {
		// No reason code: the audit trail could not be written.
		problem.Write(w, http.StatusServiceUnavailable, "unavailable", "")
		return nil
	}
	st := http.StatusUnauthorized
	if oe.Code == oauth.InsufficientScope {
		st = http.StatusForbidden
	}
	if st == http.StatusUnauthorized {
		// The API takes presentations too: say so first, as before OAuth.
		w.Header().Set("WWW-Authenticate", `VP realm="`+c.Verifier.Audience()+`", error="`+string(code)+`"`)
	}
	c.oauthChallenges(w, oe.Code, oe.Description, scopes)
	problem.Write(w, st, string(code), oe.Description)
	return nil
}

// oauthChallenges adds the DPoP challenge (RFC 9449 §7.1) and, for
// clients that read resource_metadata only there (the MCP TypeScript
// SDK), a Bearer challenge (RFC 6750 §3, RFC 9728 §5.1); with an error
// code when the request carried a token, and the scope attribute: the
// route's scopes, or ChallengeScopes when it names none. Nothing when no
// resource metadata is configured and the request carried no token.
func (c *Config) oauthChallenges(w http.ResponseWriter, code oauth.ErrorCode, desc string, scopes []string) {
	if c.ResourceMetadata == "" && code == "" {
		return
	}
	var params []string
	if code != "" {
		params = append(params, `error="`+string(code)+`"`)
		if desc != "" {
			params = append(params, `error_description="`+quote(desc)+`"`)
		}
	}
	if len(scopes) == 0 {
		scopes = c.ChallengeScopes
	}
	if len(scopes) > 0 {
		params = append(params, `scope="`+quote(strings.Join(scopes, " "))+`"`)
	}
	if c.ResourceMetadata != "" {
		params = append(params, `resource_metadata="`+quote(c.ResourceMetadata)+`"`)
	}
	dpop := append([]string{`algs="` + strings.Join(oauth.SigningAlgs, " ") + `"`}, params...)
	w.Header().Add("WWW-Authenticate", "DPoP "+strings.Join(dpop, ", "))
	w.Header().Add("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	if n := c.Verifier.DPoPNonces(); n != nil {
		w.Header().Set("DPoP-Nonce", n.Issue(c.Verifier.Now()))
	}
}

// quote makes s safe inside a quoted-string.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", " ", "\n", " ").Replace(s)
}

// ProtectedResource serves the API's protected resource metadata (RFC
// 9728) as JSON. Mount it at MetadataPath(md.Resource) (and, for clients
// that look only there, at /.well-known/oauth-protected-resource).
func ProtectedResource(md oauth.ProtectedResourceMetadata) http.Handler {
	b, _ := json.Marshal(md)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			problem.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(b)
	})
}

// MetadataPath is the path of a resource's metadata (RFC 9728 §3.1): the
// well-known segment inserted between the host and the resource's path.
func MetadataPath(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return "/.well-known/oauth-protected-resource"
	}
	return "/.well-known/oauth-protected-resource" + strings.TrimSuffix(u.EscapedPath(), "/")
}

// MetadataURL is the absolute URL of a resource's metadata.
func MetadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + MetadataPath(resource)
}
