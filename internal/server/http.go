package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/schemas"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// Server is the HTTP face of an App.
type Server struct {
	app      *App
	m        *metrics
	verifier *verifier.Verifier
	engine   *gin.Engine
}

// ServerOptions tune the HTTP layer. There are none yet: auditing of the
// verifier service's decisions is deliberately not among them.
type ServerOptions struct{}

// NewServer builds the gin engine.
func NewServer(app *App, opts ServerOptions) (*Server, error) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{app: app, m: newMetrics()}
	own := app.Issuer.DID()
	web := did.NewMultiResolver(did.NewWebResolver(did.WebOptions{AllowHTTPLocalhost: app.cfg.AllowHTTPLocalhost}))
	keys := &routeResolver{own: own, local: app.Issuer.KeyResolver(), other: web}
	checker, err := statuslist.NewChecker(statuslist.CheckerOptions{Keys: keys, Observe: s.m.statusObserver()})
	if err != nil {
		return nil, err
	}
	vopts := []verifier.Option{
		verifier.WithKeyResolver(keys),
		verifier.WithTrustedIssuers(append([]string{own}, app.cfg.TrustedIssuers...)...),
		verifier.WithStatusChecker(&routeStatus{own: own, local: app.Issuer.StatusChecker(), other: checker}),
		verifier.WithClock(app.cfg.Now),
		verifier.WithConcurrency(runtime.GOMAXPROCS(0)),
		verifier.WithObserver(func(code reason.Code, d time.Duration) {
			if code == "" {
				s.m.verified.WithLabelValues("valid", "").Inc()
			} else {
				s.m.verified.WithLabelValues("invalid", string(code)).Inc()
			}
			s.m.verifyTime.Observe(d.Seconds())
		}),
	}
	vopts = append(vopts, verifier.WithAudit(app.Audit))
	if s.verifier, err = verifier.New(vopts...); err != nil {
		return nil, err
	}
	s.engine = s.routes()
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

// routeResolver sends the issuer's own DID to the local keystore and every
// other DID to the did:web/did:key resolver.
type routeResolver struct {
	own   string
	local vc.KeyResolver
	other vc.KeyResolver
}

func (r *routeResolver) ResolveKey(ctx context.Context, kid string, rel did.Relationship) (crypto.PublicKey, error) {
	if strings.HasPrefix(kid, r.own+"#") || strings.HasPrefix(kid, "did:key:") || strings.HasPrefix(kid, "did:jwk:") {
		return r.local.ResolveKey(ctx, kid, rel)
	}
	return r.other.ResolveKey(ctx, kid, rel)
}

// routeStatus reads this issuer's status bits locally and fetches other
// issuers' lists.
type routeStatus struct {
	own          string
	local, other verifier.StatusChecker
}

func (r *routeStatus) Check(ctx context.Context, iss string, e []vc.StatusEntry) error {
	if iss == r.own {
		return r.local.Check(ctx, iss, e)
	}
	return r.other.Check(ctx, iss, e)
}

type ctxKey int

const principalKey ctxKey = 1

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.Use(gin.CustomRecovery(func(c *gin.Context, _ any) {
		problem.Write(c.Writer, http.StatusInternalServerError, "internal", "")
		c.Abort()
	}), s.observe)
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { problem.Write(c.Writer, http.StatusNotFound, "not_found", "no such endpoint") })
	r.NoMethod(func(c *gin.Context) {
		problem.Write(c.Writer, http.StatusMethodNotAllowed, "method_not_allowed", "")
	})

	// Public.
	base := issuerPath(s.app.cfg.IssuerURL)
	didPath := "/.well-known/did.json"
	if base != "" {
		didPath = base + "/did.json"
	}
	r.GET(didPath, s.didDocument)
	r.GET("/status/:purpose/:n", s.statusList)
	r.GET("/v1/status/events", gin.WrapH(s.app.Feed))
	sub, _ := fs.Sub(schemas.Files(), ".")
	r.GET("/contexts/:file", s.file(sub, schemas.AgentIDContext, "application/ld+json"))
	r.GET("/schemas/:file", s.file(sub, schemas.AgentCredentialSchema, "application/schema+json"))
	r.GET("/v1/nonce", func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"nonce": s.app.Issuer.Nonce()})
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})))
	r.POST("/v1/verify", s.verify)

	// The agent itself.
	r.POST("/v1/credentials/refresh", s.refresh)

	// Principals.
	p := r.Group("/v1", s.authenticate)
	p.POST("/agents", s.issue)
	p.GET("/agents", s.listAgents)
	p.GET("/agents/:did", s.getAgent)
	p.POST("/agents/:did/retire", s.retire)
	p.POST("/credentials/:id/:action", s.setStatus)
	p.GET("/principals", s.listPrincipals)
	p.POST("/principals", s.addPrincipal)
	p.DELETE("/principals/:did", s.removePrincipal)
	p.GET("/keys", s.listKeys)
	p.POST("/keys/rotate", s.rotate)
	p.GET("/audit", s.auditQuery)
	p.GET("/audit/summary", s.auditSummary)
	p.GET("/audit/verify", s.auditVerify)
	p.POST("/audit/events", s.ingestAudit)
	return r
}

func issuerPath(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(pu.Path, "/")
}

// observe assigns a request id, bounds the body, records latency and logs
// one line per request (never a header or body).
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	rid := c.GetHeader("X-Request-Id")
	if rid == "" || len(rid) > 64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		rid = hex.EncodeToString(b[:])
	}
	c.Header("X-Request-Id", rid)
	c.Set("rid", rid)
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, bodyLimit(c.FullPath()))
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	st := c.Writer.Status()
	s.m.httpTime.WithLabelValues(route, c.Request.Method, strconv.Itoa(st)).Observe(time.Since(start).Seconds())
	if route != "/v1/verify" || st >= 400 {
		s.app.log.Info("request", "rid", rid, "method", c.Request.Method, "route", route, "status", st,
			"ms", float64(time.Since(start).Microseconds())/1000)
	}
}

func rid(c *gin.Context) string { return c.GetString("rid") }

// fail writes err as problem details.
func (s *Server) fail(c *gin.Context, err error) {
	st, code, detail := issuer.Status(err)
	if st >= 500 {
		s.app.log.Error("request failed", "rid", rid(c), "route", c.FullPath(), "err", err)
		if strings.Contains(err.Error(), "audit") {
			s.m.auditFailure.Inc()
		}
		detail = ""
	}
	if st == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `VP realm="`+s.app.cfg.IssuerURL+`", error="`+code+`"`)
	}
	problem.Write(c.Writer, st, code, detail)
	c.Abort()
}

func (s *Server) count(op string, err error) {
	res := "allow"
	if err != nil {
		_, res, _ = issuer.Status(err)
	}
	s.m.issued.WithLabelValues(op, res).Inc()
}

// decode reads a JSON body strictly: one object, no unknown members.
func decode(c *gin.Context, v any) error { return decodeReader(c.Request.Body, v) }

func decodeReader(r io.Reader, v any) error {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &issuer.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Detail: fmt.Sprintf("body over %d bytes", MaxBodyBytes)}
		}
		var ie *issuer.Error
		if errors.As(err, &ie) {
			return ie
		}
		return &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: "body is not the expected JSON: " + err.Error()}
	}
	if _, err := d.Token(); err != io.EOF {
		return &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: "trailing data after the JSON body"}
	}
	return nil
}

func (s *Server) requestURL(c *gin.Context) string {
	return s.app.cfg.IssuerURL + strings.TrimPrefix(c.Request.URL.EscapedPath(), issuerPath(s.app.cfg.IssuerURL))
}

func (s *Server) authenticate(c *gin.Context) {
	tok, ok := middleware.Presentation(c.Request.Header)
	if !ok {
		s.fail(c, &issuer.Error{Status: http.StatusUnauthorized, Code: string(reason.Malformed), Detail: "missing Authorization: VP header"})
		return
	}
	p, err := s.app.Issuer.Authenticate(c.Request.Context(), tok, c.Request.Method, s.requestURL(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Set("principal", p)
	c.Next()
}

func principal(c *gin.Context) *issuer.Principal {
	v, _ := c.Get("principal")
	return v.(*issuer.Principal)
}

func (s *Server) didDocument(c *gin.Context) {
	doc, err := s.app.Issuer.DIDDocument(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Header("Content-Type", "application/did+json")
	b, _ := json.Marshal(doc)
	c.Writer.WriteHeader(http.StatusOK)
	_, _ = c.Writer.Write(b)
}

func (s *Server) statusList(c *gin.Context) {
	s.app.Publisher.ServeHTTP(c.Writer, c.Request)
	s.m.statusServed.WithLabelValues(strconv.Itoa(c.Writer.Status())).Inc()
}

func (s *Server) file(fsys fs.FS, name, ctype string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Param("file") != name {
			problem.Write(c.Writer, http.StatusNotFound, "not_found", "")
			return
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Header("Cache-Control", "public, max-age=86400")
		c.Data(http.StatusOK, ctype, b)
	}
}

func (s *Server) ready(c *gin.Context) {
	if _, _, err := s.app.Audit.Head(c.Request.Context()); err != nil {
		problem.Write(c.Writer, http.StatusServiceUnavailable, "not_ready", "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "issuer": s.app.Issuer.DID()})
}

// errReader hands a body read error to decodeReader, which maps it to the
// right problem (413 for an oversized body).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// VerifyRequest is the body of POST /v1/verify.
type VerifyRequest struct {
	Presentation string   `json:"presentation"`
	Audience     string   `json:"audience"`
	Nonce        string   `json:"nonce,omitempty"`
	Method       string   `json:"method,omitempty"`
	URL          string   `json:"url,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	SourceIP     string   `json:"sourceIP,omitempty"`
}

// VerifyResponse is the answer of POST /v1/verify.
type VerifyResponse struct {
	Valid        bool         `json:"valid"`
	Agent        string       `json:"agent,omitempty"`
	Issuer       string       `json:"issuer,omitempty"`
	Scopes       []string     `json:"scopes,omitempty"`
	Owner        string       `json:"owner,omitempty"`
	CredentialID string       `json:"credentialId,omitempty"`
	ExpiresAt    *time.Time   `json:"expiresAt,omitempty"`
	Error        *VerifyError `json:"error,omitempty"`
}

// VerifyError is the refusal of POST /v1/verify.
type VerifyError struct {
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

func (s *Server) verify(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, decodeReader(errReader{err}, nil))
		return
	}
	var req VerifyRequest
	if !decodeVerifyFast(body, &req) {
		req = VerifyRequest{}
		if err := decodeReader(bytes.NewReader(body), &req); err != nil {
			s.fail(c, err)
			return
		}
	}
	if req.Presentation == "" || req.Audience == "" {
		s.fail(c, &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: "presentation and audience are required"})
		return
	}
	res, err := s.verifier.Verify(c.Request.Context(), req.Presentation, verifier.Request{
		Audience: req.Audience, Nonce: req.Nonce, Method: req.Method, URL: req.URL,
		Scopes: req.Scopes, SourceIP: req.SourceIP, RequestID: rid(c),
	})
	if err != nil {
		code, detail := problem.FromError(err)
		if code == "internal" {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, VerifyResponse{Error: &VerifyError{Code: code, Detail: detail}})
		return
	}
	s.app.Issuer.Seen(res.Agent, s.app.cfg.Now())
	exp := res.ExpiresAt
	c.JSON(http.StatusOK, VerifyResponse{Valid: true, Agent: res.Agent, Issuer: res.Issuer, Scopes: res.Scopes,
		Owner: res.Owner, CredentialID: res.CredentialID, ExpiresAt: &exp})
}

func (s *Server) refresh(c *gin.Context) {
	tok, ok := middleware.Presentation(c.Request.Header)
	if !ok {
		s.fail(c, &issuer.Error{Status: http.StatusUnauthorized, Code: string(reason.Malformed), Detail: "missing Authorization: VP header"})
		return
	}
	out, err := s.app.Issuer.Refresh(c.Request.Context(), tok, c.Request.Method, s.requestURL(c))
	s.count("refresh", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) issue(c *gin.Context) {
	var req issuer.IssueRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.app.Issuer.Issue(c.Request.Context(), principal(c), req)
	s.count("issue", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) listAgents(c *gin.Context) {
	f := issuer.AgentFilter{Status: c.Query("status"), Dormant: c.Query("dormant") != "", Expired: c.Query("expired") == "true"}
	if d := c.Query("dormant"); d != "" && d != "true" {
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			s.fail(c, &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: "dormant must be true or a duration such as 72h"})
			return
		}
		f.DormantFor = v
	}
	out, err := s.app.Issuer.Agents(c.Request.Context(), principal(c), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if out == nil {
		out = []issuer.Agent{}
	}
	c.JSON(http.StatusOK, gin.H{"agents": out})
}

func (s *Server) getAgent(c *gin.Context) {
	a, err := s.app.Issuer.Agent(c.Request.Context(), principal(c), c.Param("did"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

func (s *Server) retire(c *gin.Context) {
	a, err := s.app.Issuer.Retire(c.Request.Context(), principal(c), c.Param("did"))
	s.count("retire", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

func (s *Server) setStatus(c *gin.Context) {
	action := issuer.StatusAction(c.Param("action"))
	switch action {
	case issuer.Revoke, issuer.Suspend, issuer.Reinstate:
	default:
		problem.Write(c.Writer, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	cr, err := s.app.Issuer.SetStatus(c.Request.Context(), principal(c), c.Param("id"), action)
	s.count(string(action), err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, cr)
}

func (s *Server) listPrincipals(c *gin.Context) {
	if principal(c).Role != issuer.RoleAdmin {
		s.fail(c, &issuer.Error{Status: http.StatusForbidden, Code: issuer.CodeForbidden, Detail: "admins only"})
		return
	}
	ps, err := s.app.Issuer.Principals(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"principals": ps})
}

func (s *Server) addPrincipal(c *gin.Context) {
	var p issuer.Principal
	if err := decode(c, &p); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.app.Issuer.AddPrincipal(c.Request.Context(), principal(c), p); err != nil {
		s.fail(c, err)
		return
	}
	got, err := s.app.Issuer.Principal(c.Request.Context(), p.DID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, got)
}

func (s *Server) removePrincipal(c *gin.Context) {
	if err := s.app.Issuer.RemovePrincipal(c.Request.Context(), principal(c), c.Param("did")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// KeyInfo describes one issuer key.
type KeyInfo struct {
	KID     string    `json:"kid"`
	Alg     string    `json:"alg"`
	Primary bool      `json:"primary"`
	Created time.Time `json:"created"`
}

func (s *Server) listKeys(c *gin.Context) {
	ks, err := s.app.Issuer.Keys(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]KeyInfo, len(ks))
	for i, k := range ks {
		out[i] = KeyInfo{KID: s.app.Issuer.DID() + "#" + k.KID, Alg: k.Alg, Primary: k.Primary, Created: k.Created}
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

func (s *Server) rotate(c *gin.Context) {
	k, err := s.app.Issuer.RotateKey(c.Request.Context(), principal(c))
	s.count("rotate", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, KeyInfo{KID: s.app.Issuer.DID() + "#" + k.KID, Alg: k.Alg, Primary: true, Created: k.Created})
}

func (s *Server) admin(c *gin.Context) bool {
	if principal(c).Role != issuer.RoleAdmin {
		s.fail(c, &issuer.Error{Status: http.StatusForbidden, Code: issuer.CodeForbidden, Detail: "admins only"})
		return false
	}
	return true
}

func parseFilter(c *gin.Context) (audit.Filter, error) {
	f := audit.Filter{Agent: c.Query("agent"), Actor: c.Query("actor"), Action: c.Query("action"), Decision: c.Query("decision")}
	var err error
	parse := func(k string) time.Time {
		v := c.Query(k)
		if v == "" || err != nil {
			return time.Time{}
		}
		t, e := time.Parse(time.RFC3339, v)
		if e != nil {
			if d, e2 := time.ParseDuration(v); e2 == nil && d > 0 {
				return time.Now().Add(-d)
			}
			err = fmt.Errorf("%s must be an RFC 3339 time or a duration such as 24h", k)
		}
		return t
	}
	f.Since, f.Until = parse("since"), parse("until")
	if v := c.Query("limit"); v != "" && err == nil {
		n, e := strconv.Atoi(v)
		if e != nil || n < 0 {
			err = errors.New("limit must be a non-negative integer")
		}
		f.Limit = n
	}
	if v := c.Query("after"); v != "" && err == nil {
		n, e := strconv.ParseUint(v, 10, 64)
		if e != nil {
			err = errors.New("after must be a sequence number")
		}
		f.AfterSeq = n
	}
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		return f, &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: err.Error()}
	}
	return f, nil
}

func (s *Server) auditQuery(c *gin.Context) {
	if !s.admin(c) {
		return
	}
	f, err := parseFilter(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if c.Query("format") == "jsonl" {
		c.Header("Content-Type", "application/jsonl")
		c.Status(http.StatusOK)
		if err := s.app.Audit.Export(c.Request.Context(), f, c.Writer); err != nil {
			s.app.log.Error("audit export failed", "rid", rid(c), "err", err)
		}
		return
	}
	if f.Limit == 0 || f.Limit > 10_000 {
		f.Limit = 1000
	}
	out := []*audit.Event{}
	if err := s.app.Audit.Query(c.Request.Context(), f, func(e *audit.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"events": out})
}

func (s *Server) auditSummary(c *gin.Context) {
	if !s.admin(c) {
		return
	}
	since := 24 * time.Hour
	if v := c.Query("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			s.fail(c, &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: "since must be a duration such as 24h"})
			return
		}
		since = d
	}
	states, err := s.app.Issuer.AgentStates(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	sum, err := s.app.Audit.Summary(c.Request.Context(), s.app.cfg.Now().Add(-since), audit.SummaryOptions{Agents: states})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sum)
}

func (s *Server) auditVerify(c *gin.Context) {
	if !s.admin(c) {
		return
	}
	rep, err := s.app.Audit.Verify(c.Request.Context())
	if err != nil && rep == nil {
		s.fail(c, err)
		return
	}
	// A broken chain is an answer, not a failure: the report says where.
	c.JSON(http.StatusOK, rep)
}
