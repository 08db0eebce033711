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

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/console"
	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/schemas"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
)

// MaxBodyBytes bounds every request body but the audit ingest's.
const MaxBodyBytes = 64 << 10

// MaxIngestBytes bounds the body of POST /v1/audit/events, where embedded
// verifiers forward their audit events in batches (audit.Forwarder keeps
// its batches under the same bound).
const MaxIngestBytes = audit.MaxForwardBatchBytes

// ingestRoute is the gin route of the ingest endpoint.
const ingestRoute = "/v1/audit/events"

// bodyLimit returns the request body bound of a gin route: observe wraps
// every body in an http.MaxBytesReader with it. The bound has to be chosen
// there, before any handler runs: a second MaxBytesReader set in the
// handler could only lower it, since the outer reader reads through the
// inner one.
func bodyLimit(route string) int64 {
	if route == ingestRoute {
		return MaxIngestBytes
	}
	return MaxBodyBytes
}

// Server is the HTTP face of an App. It translates HTTP into one call of
// the issuer (or the verifier) and the answer back; who may do what, and
// what is audited, is the issuer's to decide.
type Server struct {
	app      *App
	m        *metrics
	verifier *verifier.Verifier
	// ownStatus checks the issuer's own credentials for the verifier
	// service (a *cachedStatus on PostgreSQL).
	ownStatus verifier.StatusChecker
	engine    *gin.Engine
	// The OAuth face (oauth.go).
	oauth      *issuer.AuthServer
	dpopNonces *oauth.Nonces
	// console serves /console/ (console.go); nil until mounted.
	console *console.Console
}

// ServerOptions tune the HTTP layer. There are none yet: auditing of the
// verifier service's decisions is deliberately not among them.
type ServerOptions struct{}

// NewServer builds the gin engine.
func NewServer(app *App, opts ServerOptions) (*Server, error) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{app: app, m: newMetrics()}
	s.m.reg.MustRegister(app.health.collectors()...)
	own := app.Issuer.DID()
	web := did.NewMultiResolver(did.NewWebResolver(did.WebOptions{AllowHTTPLocalhost: app.cfg.AllowHTTPLocalhost && httpLocalhost(own)}))
	keys := &routeResolver{own: own, local: app.Issuer.KeyResolver(), other: web}
	checker, err := statuslist.NewChecker(statuslist.CheckerOptions{Keys: keys, Observe: s.m.statusObserver()})
	if err != nil {
		return nil, err
	}
	local := app.ownStatus()
	s.ownStatus = local
	if cs, ok := local.(*cachedStatus); ok {
		if sr, ok := app.replayVerify.(*sharedReplay); ok {
			// On PostgreSQL the replay record confirms the status answered
			// from the cache, in one statement (cachedStatus.CheckHeld).
			sr.observe, cs.fed = cs.observe, true
		}
	}
	s.verifier, err = verifier.ForIssuers(context.Background(), verifier.TrustConfig{
		Issuers: append([]string{own}, app.cfg.TrustedIssuers...),
		Keys:    keys,
		Status:  &routeStatus{own: own, local: local, other: checker},
	},
		verifier.WithClock(app.cfg.Now),
		verifier.WithReplayCache(app.replayVerify),
		verifier.WithConcurrency(runtime.GOMAXPROCS(0)),
		verifier.WithObserver(func(code reason.Code, d time.Duration) {
			if code == "" {
				s.m.verified.WithLabelValues("valid", "").Inc()
			} else {
				s.m.verified.WithLabelValues("invalid", string(code)).Inc()
			}
			s.m.verifyTime.Observe(d.Seconds())
		}),
		// Refusals of callers no trusted issuer vouched for are
		// aggregated; every other decision is its own durable event.
		verifier.WithAudit(app.Refusals),
	)
	if err != nil {
		return nil, err
	}
	status := &routeStatus{own: own, local: app.Issuer.StatusChecker(), other: checker}
	exchange, err := s.exchangeVerifier(keys, status)
	if err != nil {
		return nil, err
	}
	if err := s.newAuthServer(exchange, status); err != nil {
		return nil, err
	}
	s.engine = s.routes()
	if err := s.mountConsole(s.engine); err != nil {
		return nil, err
	}
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
	// Only issuers' keys (assertionMethod) are ever fetched: a holder's
	// key is resolved locally or not at all.
	if rel != did.AssertionMethod {
		return nil, reason.New(reason.UnknownKey, "server: only an issuer's keys are resolved over the network")
	}
	return r.other.ResolveKey(ctx, kid, rel)
}

// httpLocalhost reports whether the issuer DID is did:web:localhost (its
// URL http://localhost...): only then may other did:web:localhost issuers
// be fetched over plain http.
func httpLocalhost(issuerDID string) bool {
	return issuerDID == "did:web:localhost" || strings.HasPrefix(issuerDID, "did:web:localhost%3A") || strings.HasPrefix(issuerDID, "did:web:localhost:")
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

// CheckHeld implements verifier.ProvisionalStatus for the issuer's own
// credentials, when the local checker does (cachedStatus on PostgreSQL).
func (r *routeStatus) CheckHeld(ctx context.Context, iss string, e []vc.StatusEntry) (func(context.Context) error, bool) {
	if ps, ok := r.local.(verifier.ProvisionalStatus); ok && iss == r.own {
		return ps.CheckHeld(ctx, iss, e)
	}
	return nil, false
}

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	// ClientIP is the peer's address: no X-Forwarded-For is believed.
	_ = r.SetTrustedProxies(nil)
	r.Use(gin.CustomRecovery(func(c *gin.Context, _ any) {
		problem.Write(c.Writer, http.StatusInternalServerError, api.CodeInternal, "")
		c.Abort()
	}), s.observe)
	r.HandleMethodNotAllowed = true
	// Route on the escaped path, so that a path parameter may hold any
	// character its client escaped — a task (job) id such as "ci/run 7"
	// in /v1/jobs/ci%2Frun%207/retire — and is unescaped once matched.
	// The request binding (htu) compares escaped paths as well.
	r.UseRawPath = true
	// Under /console/ a person is reading: a page, not problem JSON.
	r.NoRoute(func(c *gin.Context) {
		if s.console != nil && strings.HasPrefix(c.Request.URL.Path, "/console/") {
			s.console.NoRoute(c, false)
			return
		}
		problem.Write(c.Writer, http.StatusNotFound, "not_found", "no such endpoint")
	})
	r.NoMethod(func(c *gin.Context) {
		if s.console != nil && strings.HasPrefix(c.Request.URL.Path, "/console/") {
			s.console.NoRoute(c, true)
			return
		}
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
	r.GET("/v1/status/events", s.statusEvents)
	sub, _ := fs.Sub(schemas.Files(), ".")
	r.GET("/contexts/:file", s.file(sub, schemas.AgentIDContext, "application/ld+json"))
	r.GET("/schemas/:file", s.file(sub, schemas.AgentCredentialSchema, "application/schema+json"))
	r.GET("/v1/nonce", func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, api.NonceResponse{Nonce: s.app.Issuer.Nonce()})
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})))
	r.POST("/v1/verify", s.verify)

	// The agent itself.
	r.POST("/v1/credentials/refresh", s.refresh)

	// Principals.
	// POST /v1/agents: a principal, or an agent asking for a sub-agent.
	r.POST("/v1/agents", s.issueAny)
	// GET /v1/approvals/{id}: a principal, or an agent that asked for a
	// sub-agent.
	r.GET("/v1/approvals/:id", s.getApprovalAny)
	p := r.Group("/v1", s.authenticate)
	p.GET("/agents", s.listAgents)
	p.GET("/agents/:did", s.getAgent)
	p.POST("/agents/:did/retire", s.retire)
	p.POST("/jobs/:task/retire", s.retireTask)
	p.GET("/approvals", s.listApprovals)
	p.GET("/approvals/events", s.approvalEvents)
	p.POST("/approvals/:id/:decision", s.decideApproval)
	p.POST("/credentials/:id/:action", s.setStatus)
	p.GET("/principals", s.listPrincipals)
	p.POST("/principals", s.addPrincipal)
	p.DELETE("/principals/:did", s.removePrincipal)
	p.GET("/keys", s.listKeys)
	p.POST("/keys/rotate", s.rotate)
	p.GET("/audit", s.auditQuery)
	p.GET("/audit/summary", s.auditSummary)
	p.GET("/audit/verify", s.auditVerify)
	p.GET("/audit/head", s.auditHead)
	p.POST(ingestRoute[len("/v1"):], s.ingestAudit)
	s.oauthRoutes(r)
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

// withSource returns the request's context carrying its client IP (the
// peer's address; no proxy is trusted), by which refusals of
// unauthenticated callers are aggregated.
func withSource(c *gin.Context) context.Context {
	return audit.WithSource(c.Request.Context(), c.ClientIP())
}

// statusOf is the one table from the issuer's kinds of refusal to HTTP.
var statusOf = map[issuer.Kind]int{
	issuer.KindInvalid:         http.StatusBadRequest,
	issuer.KindUnauthenticated: http.StatusUnauthorized,
	issuer.KindForbidden:       http.StatusForbidden,
	issuer.KindNotFound:        http.StatusNotFound,
	issuer.KindConflict:        http.StatusConflict,
	issuer.KindTooLarge:        http.StatusRequestEntityTooLarge,
	issuer.KindRateLimited:     http.StatusTooManyRequests,
	issuer.KindIntegrity:       http.StatusInternalServerError,
}

// fail writes err as problem details: a refusal with its code and the
// status of its kind; the storage failing underneath (full disk, I/O
// error, audit log unwritable) as 503 unavailable with Retry-After, the
// operation not done; anything else as a 500. The cause of a 5xx is
// logged, never shown.
func (s *Server) fail(c *gin.Context, err error) {
	st, code, detail := http.StatusInternalServerError, api.CodeInternal, ""
	if unavailable(err) {
		st, code, detail = http.StatusServiceUnavailable, api.CodeUnavailable, "storage unavailable; retry later"
		c.Header("Retry-After", problem.UnavailableRetryAfter)
	} else if e, ok := issuer.Refusal(err); ok {
		if v, ok := statusOf[e.Kind]; ok {
			st, code, detail = v, string(e.Code), e.Detail
		}
	}
	if st >= http.StatusInternalServerError {
		s.app.log.Error("request failed", "rid", rid(c), "route", c.FullPath(), "err", err)
		if errors.Is(err, audit.ErrUnavailable) {
			s.m.auditFailure.Inc()
		}
	}
	if e, ok := issuer.Refusal(err); ok && st == http.StatusTooManyRequests && e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
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
		res = api.CodeInternal
		if unavailable(err) {
			res = api.CodeUnavailable
		} else if e, ok := issuer.Refusal(err); ok {
			res = string(e.Code)
		}
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
			return issuer.TooLarge(mbe.Limit)
		}
		return issuer.InvalidRequest("body is not the expected JSON: " + err.Error())
	}
	if _, err := d.Token(); err != io.EOF {
		return issuer.InvalidRequest("trailing data after the JSON body")
	}
	return nil
}

func (s *Server) requestURL(c *gin.Context) string {
	return s.app.cfg.IssuerURL + strings.TrimPrefix(c.Request.URL.EscapedPath(), issuerPath(s.app.cfg.IssuerURL))
}

// presentation returns the request's VP token, or the refusal of a request
// without one.
func presentation(c *gin.Context) (string, error) {
	tok, ok := middleware.Presentation(c.Request.Header)
	if !ok {
		return "", &issuer.Error{Kind: issuer.KindUnauthenticated, Code: issuer.Code(reason.Malformed), Detail: "missing Authorization: VP header"}
	}
	return tok, nil
}

func (s *Server) authenticate(c *gin.Context) {
	tok, err := presentation(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The body is read here, within the bound observe set, so that the
	// presentation's htd claim can bind it; the handler reads it again
	// from memory.
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, decodeReader(errReader{err}, nil))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead && c.Request.URL.RawQuery != "" {
		// htu leaves the query out (RFC 9449 §4.3), so a request that
		// changes something takes its parameters in the body, which htd
		// binds: a query here could be added to a captured request.
		s.fail(c, issuer.InvalidRequest("a "+c.Request.Method+" request takes no query parameters (the request presentation does not cover them); send them in the JSON body"))
		return
	}
	p, err := s.app.Issuer.Authenticate(withSource(c), tok, c.Request.Method, s.requestURL(c), body)
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

// statusEvents serves the change feed. A subscriber that sends a
// principal's request presentation (Authorization: VP, htm GET, htu this
// URL) is served from the slots kept for authenticated subscribers; one
// whose presentation is refused gets the 401 (it asked to be known, so
// it is told why not). Anonymous subscribers are bounded per client IP.
func (s *Server) statusEvents(c *gin.Context) {
	who := publish.Subscriber{Source: c.ClientIP()}
	if tok, ok := middleware.Presentation(c.Request.Header); ok {
		p, err := s.app.Issuer.Authenticate(withSource(c), tok, c.Request.Method, s.requestURL(c), nil)
		if err != nil {
			s.fail(c, err)
			return
		}
		who.Principal = p.DID
	}
	s.app.Feed.Serve(c.Writer, c.Request, who)
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
	if s.app.IntegrityErr != nil {
		problem.Write(c.Writer, http.StatusServiceUnavailable, "not_ready", "integrity check failed at start; see the server log")
		return
	}
	if err := s.app.health.check(c.Request.Context()); err != nil {
		problem.Write(c.Writer, http.StatusServiceUnavailable, "not_ready", "storage unavailable: writes fail; see the server log")
		return
	}
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

func (s *Server) verify(c *gin.Context) {
	body, release, err := readBody(c.Request)
	defer release()
	if err != nil {
		s.fail(c, decodeReader(errReader{err}, nil))
		return
	}
	var req api.VerifyRequest
	if !decodeVerifyFast(body, &req) {
		req = api.VerifyRequest{}
		if err := decodeReader(bytes.NewReader(body), &req); err != nil {
			s.fail(c, err)
			return
		}
	}
	if req.Presentation == "" || req.Audience == "" {
		s.fail(c, issuer.InvalidRequest("presentation and audience are required"))
		return
	}
	res, err := s.verifier.Verify(withSource(c), req.Presentation, verifier.Request{
		Audience: req.Audience, Nonce: req.Nonce, Method: req.Method, URL: req.URL,
		Scopes: req.Scopes, SourceIP: req.SourceIP, RequestID: rid(c),
	})
	if unavailable(err) {
		// Not a verdict on the presentation (the replay journal or the
		// audit log cannot be written): 503 with Retry-After.
		s.fail(c, err)
		return
	}
	out, err := api.NewVerifyResponse(res, err)
	if err != nil {
		s.fail(c, err)
		return
	}
	if out.Valid {
		s.app.Issuer.Seen(out.Agent, s.app.cfg.Now())
	}
	writeVerifyResponse(c, &out)
}

func (s *Server) refresh(c *gin.Context) {
	tok, err := presentation(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.app.Issuer.Refresh(withSource(c), tok, c.Request.Method, s.requestURL(c))
	s.count("refresh", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, wireIssued(out))
}

func (s *Server) issue(c *gin.Context) {
	var req api.IssueRequest
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.app.Issuer.Issue(c.Request.Context(), principal(c), issueRequest(&req))
	s.count("issue", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.issued(c, out)
}

func (s *Server) listAgents(c *gin.Context) {
	f := issuer.AgentFilter{Status: c.Query("status"), Dormant: c.Query("dormant") != "", Expired: c.Query("expired") == "true"}
	if d := c.Query("dormant"); d != "" && d != "true" {
		v, err := time.ParseDuration(d)
		if err != nil || v <= 0 {
			s.fail(c, issuer.InvalidRequest("dormant must be true or a duration such as 72h"))
			return
		}
		f.DormantFor = v
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(c, issuer.InvalidRequest(fmt.Sprintf("limit must be an integer from 1 to %d", issuer.MaxAgentPage)))
			return
		}
		limit = n // the issuer caps it at MaxAgentPage
	}
	out, next, err := s.app.Issuer.AgentPage(c.Request.Context(), principal(c), f, c.Query("cursor"), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	list := api.AgentList{Agents: make([]api.Agent, len(out)), Next: next}
	for i := range out {
		list.Agents[i] = *wireAgent(&out[i])
	}
	c.JSON(http.StatusOK, list)
}

func (s *Server) getAgent(c *gin.Context) {
	a, err := s.app.Issuer.Agent(c.Request.Context(), principal(c), c.Param("did"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wireAgent(a))
}

func (s *Server) retire(c *gin.Context) {
	// The body is optional (none retires the agent alone); authenticate
	// has read and bounded it already.
	var req api.Retire
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, decodeReader(errReader{err}, nil))
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeReader(bytes.NewReader(body), &req); err != nil {
			s.fail(c, err)
			return
		}
	}
	if req.Tree {
		s.retireGroup(c, func() ([]issuer.Agent, error) {
			return s.app.Issuer.RetireTree(c.Request.Context(), principal(c), c.Param("did"))
		})
		return
	}
	a, err := s.app.Issuer.Retire(c.Request.Context(), principal(c), c.Param("did"))
	s.count("retire", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wireAgent(a))
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
	c.JSON(http.StatusOK, api.Credential(*cr))
}

func (s *Server) listPrincipals(c *gin.Context) {
	ps, err := s.app.Issuer.Principals(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	list := api.PrincipalList{Principals: make([]api.Principal, len(ps))}
	for i := range ps {
		list.Principals[i] = wirePrincipal(&ps[i])
	}
	c.JSON(http.StatusOK, list)
}

func (s *Server) addPrincipal(c *gin.Context) {
	var p api.Principal
	if err := decode(c, &p); err != nil {
		s.fail(c, err)
		return
	}
	got, err := s.app.Issuer.AddPrincipal(c.Request.Context(), principal(c), issuer.Principal{
		DID: p.DID, Role: issuer.Role(p.Role), Name: p.Name, Ceiling: p.Ceiling, Audiences: p.Audiences, MaxTTL: time.Duration(p.MaxTTL),
		MaxDepth: p.MaxDepth, NeedApproval: p.NeedApproval, Approver: p.Approver,
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, wirePrincipal(got))
}

func (s *Server) removePrincipal(c *gin.Context) {
	if err := s.app.Issuer.RemovePrincipal(c.Request.Context(), principal(c), c.Param("did")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) listKeys(c *gin.Context) {
	ks, err := s.app.Issuer.Keys(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	out := api.KeyList{Keys: make([]api.KeyInfo, len(ks))}
	for i, k := range ks {
		out.Keys[i] = api.KeyInfo{KID: s.app.Issuer.DID() + "#" + k.KID, Alg: k.Alg, Primary: k.Primary, Created: k.Created}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) rotate(c *gin.Context) {
	k, err := s.app.Issuer.RotateKey(c.Request.Context(), principal(c))
	s.count("rotate", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.KeyInfo{KID: s.app.Issuer.DID() + "#" + k.KID, Alg: k.Alg, Primary: true, Created: k.Created})
}

// parseFilter reads an audit filter from the query; relative times
// ("24h") count back from the issuer's clock.
func (s *Server) parseFilter(c *gin.Context) (audit.Filter, error) {
	f := audit.Filter{Agent: c.Query("agent"), Actor: c.Query("actor"), Action: c.Query("action"), Decision: c.Query("decision")}
	var bad string
	parse := func(k string) time.Time {
		v := c.Query(k)
		if v == "" || bad != "" {
			return time.Time{}
		}
		t, e := time.Parse(time.RFC3339, v)
		if e != nil {
			if d, e2 := time.ParseDuration(v); e2 == nil && d > 0 {
				return s.app.Issuer.Now().Add(-d)
			}
			bad = k + " must be an RFC 3339 time or a duration such as 24h"
		}
		return t
	}
	f.Since, f.Until = parse("since"), parse("until")
	if v := c.Query("limit"); v != "" && bad == "" {
		n, e := strconv.Atoi(v)
		if e != nil || n < 0 {
			bad = "limit must be a non-negative integer"
		}
		f.Limit = n
	}
	if v := c.Query("after"); v != "" && bad == "" {
		n, e := strconv.ParseUint(v, 10, 64)
		if e != nil {
			bad = "after must be a sequence number"
		}
		f.AfterSeq = n
	}
	// before (seq less than) and order=desc (newest first) read the log
	// from its end: the cursor of the next page back is the seq of the
	// last event of the page, as after is forward.
	if v := c.Query("before"); v != "" && bad == "" {
		n, e := strconv.ParseUint(v, 10, 64)
		if e != nil {
			bad = "before must be a sequence number"
		}
		f.BeforeSeq = n
	}
	switch c.Query("order") {
	case "", "asc":
	case "desc":
		f.Reverse = true
	default:
		if bad == "" {
			bad = "order must be asc or desc"
		}
	}
	if bad != "" {
		return f, issuer.InvalidRequest(bad)
	}
	return f, nil
}

func (s *Server) auditQuery(c *gin.Context) {
	f, err := s.parseFilter(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	if c.Query("format") == "jsonl" {
		// The status line goes out with the first byte, after the issuer
		// has accepted the request; a refusal is still a problem answer.
		w := &lazyWriter{c: c}
		if err := s.app.Issuer.AuditExport(ctx, p, f, w); err != nil {
			if !w.started {
				s.fail(c, err)
				return
			}
			s.app.log.Error("audit export failed", "rid", rid(c), "err", err)
		}
		if !w.started {
			w.start()
		}
		return
	}
	if f.Limit == 0 || f.Limit > 10_000 {
		f.Limit = 1000
	}
	out := api.EventList{Events: []audit.Event{}}
	if err := s.app.Issuer.AuditQuery(ctx, p, f, func(e *audit.Event) error {
		out.Events = append(out.Events, *e)
		return nil
	}); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// lazyWriter starts a JSON-lines answer on its first write.
type lazyWriter struct {
	c       *gin.Context
	started bool
}

func (w *lazyWriter) start() {
	w.started = true
	w.c.Header("Content-Type", "application/jsonl")
	w.c.Status(http.StatusOK)
	w.c.Writer.WriteHeaderNow()
}

func (w *lazyWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.start()
	}
	return w.c.Writer.Write(b)
}

func (s *Server) auditSummary(c *gin.Context) {
	since := 24 * time.Hour
	if v := c.Query("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			s.fail(c, issuer.InvalidRequest("since must be a duration such as 24h"))
			return
		}
		since = d
	}
	sum, err := s.app.Issuer.AuditSummary(c.Request.Context(), principal(c), since)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sum)
}

func (s *Server) auditVerify(c *gin.Context) {
	rep, err := s.app.Issuer.AuditVerify(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

// auditHead is GET /v1/audit/head: the current chain head, signed now by
// the issuer key, as {"token": compact JWS, "head": {...}}.
func (s *Server) auditHead(c *gin.Context) {
	tok, h, err := s.app.Issuer.AuditHead(c.Request.Context(), principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.SignedHead{Token: tok, Head: *h})
}

// ingestAudit is POST /v1/audit/events: see issuer.IngestAudit.
// 202 {"accepted": N} means every event is in the trail; any refusal (400
// naming the first bad line, 413 over MaxIngestBytes) means none is.
func (s *Server) ingestAudit(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, decodeReader(errReader{err}, nil))
		return
	}
	n, err := s.app.Issuer.IngestAudit(c.Request.Context(), principal(c), body)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.Accepted{Accepted: n})
}

// The wire forms of the issuer's records.

func wireAgent(a *issuer.Agent) *api.Agent {
	return &api.Agent{DID: a.DID, Owner: a.Owner, Purpose: a.Purpose, Scopes: a.Scopes, Audiences: a.Audiences,
		OnBehalfOf: a.OnBehalfOf, Constraints: a.Constraints, TTL: api.Duration(a.TTL), CreatedBy: a.CreatedBy,
		CreatedAt: a.CreatedAt, RegistrationExpires: a.RegistrationExpires, CurrentCredential: a.CurrentCredential,
		CredentialExpires: a.CredentialExpires, Credentials: a.Credentials, Retired: a.Retired, RetiredAt: a.RetiredAt,
		LastSeen: a.LastSeen, Status: a.Status, Ancestor: a.Ancestor, Parent: a.Parent, Depth: a.Depth,
		MaxDepth: a.MaxDepth, Delegation: a.Delegation, Task: a.Task, Approval: a.Approval}
}

func wireIssued(i *issuer.Issued) *api.Issued {
	return &api.Issued{Credential: i.Credential, ID: i.ID, ValidUntil: i.ValidUntil, Agent: wireAgent(i.Agent)}
}

func wirePrincipal(p *issuer.Principal) api.Principal {
	return api.Principal{DID: p.DID, Role: api.Role(p.Role), Name: p.Name, Ceiling: p.Ceiling, Audiences: p.Audiences,
		MaxTTL: api.Duration(p.MaxTTL), CreatedAt: p.CreatedAt, CreatedBy: p.CreatedBy,
		MaxDepth: p.MaxDepth, NeedApproval: p.NeedApproval, Approver: p.Approver}
}
