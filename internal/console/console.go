package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/verifier"

	"github.com/agentid/agentid/internal/recordmac"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Defaults of Config.
const (
	// SignInLifetime is the longest a sign-in link lives (exp - iat).
	SignInLifetime = 60 * time.Second
	// DefaultIdleTimeout ends a session unused for this long.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultAbsoluteTimeout ends a session this long after sign-in,
	// however busy.
	DefaultAbsoluteTimeout = 12 * time.Hour
)

// Audit actions the console writes itself; every other action it takes is
// the issuer's, audited by the issuer.
const (
	ActionSignIn  = "console.signin"
	ActionSignOut = "console.signout"
)

// AuditLog is where sign-ins and sign-outs are recorded
// (*auditlog.Log).
type AuditLog interface {
	Append(ctx context.Context, ev *audit.Event) error
}

// RefusalCounter aggregates refused sign-in links (*audit.Aggregator): a
// refused link proves no registered identity, so refusals are counted per
// source, reason and minute rather than written one by one.
type RefusalCounter interface {
	Count(ctx context.Context, ev *audit.Event) error
}

// Config configures a Console.
type Config struct {
	Issuer *issuer.Issuer
	// DB holds the sessions (as hashes) and the used sign-in links.
	DB    store.Store
	Audit AuditLog
	// Refusals, when set, counts refused sign-in links.
	Refusals RefusalCounter
	// URL is the issuer's public base URL; the console is URL + "/console/"
	// and must be opened there (its origin is checked on every POST).
	URL string
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// RecordsKey, when set, seals the session records with an HMAC (the
	// issuer's record key, from the master key): a session written into
	// the store by someone without the master key is refused. Nil: stored
	// unsealed (tests and tools without the master key).
	RecordsKey []byte
	// IdleTimeout and AbsoluteTimeout bound sessions
	// (DefaultIdleTimeout, DefaultAbsoluteTimeout when 0).
	IdleTimeout, AbsoluteTimeout time.Duration
	Logger                       *slog.Logger
}

// Section is one entry of the console's navigation.
type Section struct {
	Path  string // under /console/
	Title string
	// AdminOnly hides the entry from orchestrators (the issuer refuses
	// them the data anyway).
	AdminOnly bool
}

// sections is the navigation.
//
// The delegation tree has no section of its own: it is on the agent page
// and on a task's page (/console/task?id=…), reached from the inventory.
// Approvals are for everyone: those who decide see every request, an
// orchestrator its own.
var sections = []Section{
	{Path: "", Title: "Overview"},
	{Path: "agents", Title: "Agents"},
	{Path: "approvals", Title: "Approvals"},
	{Path: "principals", Title: "Principals", AdminOnly: true},
	{Path: "keys", Title: "Keys", AdminOnly: true},
	{Path: "audit", Title: "Audit", AdminOnly: true},
}

// Console serves the admin console.
type Console struct {
	seal       *recordmac.Sealer // session records (nil: unsealed)
	cfg        Config
	signin     *verifier.Verifier
	pages      map[string]*template.Template
	origin     string
	secure     bool
	cookieName string
	log        *slog.Logger
}

// New builds a Console.
func New(cfg Config) (*Console, error) {
	if cfg.Issuer == nil || cfg.DB == nil || cfg.Audit == nil {
		return nil, errors.New("console: issuer, store and audit log are required")
	}
	u, err := url.Parse(strings.TrimSuffix(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("console: issuer URL %q is not an absolute http(s) URL", cfg.URL)
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, origin: u.Scheme + "://" + u.Host, secure: u.Scheme == "https", log: cfg.Logger}
	if cfg.RecordsKey != nil {
		if c.seal, err = recordmac.New(cfg.RecordsKey); err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
	}
	c.cookieName = "agentid_console"
	if c.secure {
		c.cookieName = "__Secure-agentid_console"
	}
	// Sign-in links are checked by the verifier pipeline every signature
	// goes through, addressed to the console and bound to its sign-in
	// URL; their jti is kept in the store (usedLinks), so a link works
	// once, across restarts too. No clock skew is allowed beyond the
	// link's own 60 s.
	c.signin, err = verifier.New(
		verifier.WithTrustedIssuers(cfg.Issuer.DID()),
		verifier.WithKeyResolver(cfg.Issuer.KeyResolver()),
		verifier.WithStatusChecker(cfg.Issuer.StatusChecker()),
		verifier.WithClock(cfg.Now),
		verifier.WithAudience(ConsoleURL(cfg.URL)),
		verifier.WithRequiredRequestBinding(),
		verifier.WithMaxLifetime(SignInLifetime),
		verifier.WithSkew(0),
		verifier.WithReplayCache(&usedLinks{db: cfg.DB}),
	)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return c, nil
}

// ConsoleURL is the console's URL for an issuer base URL: the audience of
// its sign-in links.
func ConsoleURL(issuerURL string) string { return strings.TrimSuffix(issuerURL, "/") + "/console/" }

// SignInURL is the URL a sign-in link opens (without its token): the htu
// of the link's presentation.
func SignInURL(issuerURL string) string { return ConsoleURL(issuerURL) + "signin" }

// Register adds the console's routes, all under /console/, to r.
func (c *Console) Register(r gin.IRouter) {
	g := r.Group("/console", c.headers)
	g.GET("/static/:file", c.static)
	g.GET("/signin", c.signIn)
	g.GET("/signed-out", c.signedOut)

	s := g.Group("", c.session)
	s.GET("/", c.overview)
	s.GET("/agents", c.inventory)
	s.GET("/agent", c.agent)
	s.GET("/agent/confirm", c.confirm)
	s.GET("/principals", c.principals)
	s.GET("/principals/confirm", c.confirmRemove)
	s.GET("/keys", c.keys)
	s.GET("/audit", c.auditPage)
	s.GET("/audit/export", c.auditExport)
	s.GET("/task", c.task)
	s.GET("/approvals", c.approvals)
	s.GET("/approvals/events", c.approvalEvents)
	s.GET("/approval", c.approval)

	w := s.Group("", c.csrf)
	w.POST("/signout", c.signOut)
	w.POST("/agent/action", c.agentAction)
	w.POST("/principals", c.addPrincipal)
	w.POST("/principals/remove", c.removePrincipal)
	w.POST("/keys/rotate", c.rotateKey)
	w.POST("/approval/decide", c.decideApproval)
}

// csp allows only the console's own scripts, styles and connections: no
// inline script or style, no framing, forms only to the console.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (c *Console) headers(g *gin.Context) {
	c.setHeaders(g)
	g.Next()
}

// NoRoute answers a request under /console/ that matches no page, or a
// page by another method (a form's address opened as a link), with a
// refusal page — `not_found` or `method_not_allowed` — rather than the
// API's problem JSON. methodNotAllowed tells which.
func (c *Console) NoRoute(g *gin.Context, methodNotAllowed bool) {
	c.setHeaders(g)
	if methodNotAllowed {
		c.refuse(g, http.StatusMethodNotAllowed, "method_not_allowed",
			"This address only takes the console's forms. Go back to the page and use its button.")
		return
	}
	c.refuse(g, http.StatusNotFound, "not_found", "There is no such page in the console.")
}

func (c *Console) setHeaders(g *gin.Context) {
	h := g.Writer.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser sends
	// "Origin: null" on form posts, and the origin check needs the real
	// one. The sign-in page, whose URL holds the token, sets no-referrer.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if c.secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

func (c *Console) static(g *gin.Context) {
	name := g.Param("file")
	var ctype string
	switch {
	case strings.HasSuffix(name, ".css"):
		ctype = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		ctype = "image/svg+xml"
	default:
		g.Status(http.StatusNotFound)
		return
	}
	b, err := fs.ReadFile(staticFiles, "static/"+name)
	if err != nil {
		g.Status(http.StatusNotFound)
		return
	}
	g.Header("Cache-Control", "no-cache")
	g.Data(http.StatusOK, ctype, b)
}

// sameOrigin reports whether a state-changing request comes from the
// console's own pages: Sec-Fetch-Site, when sent, must be same-origin, and
// Origin, when sent, must be the console's; a request with neither is
// refused (every browser the console supports sends at least one on a
// POST).
func (c *Console) sameOrigin(r *http.Request) bool {
	sfs := r.Header.Get("Sec-Fetch-Site")
	origin := r.Header.Get("Origin")
	if sfs == "" && origin == "" {
		return false
	}
	if sfs != "" && sfs != "same-origin" {
		return false
	}
	if origin != "" && origin != c.origin {
		return false
	}
	return true
}

// csrf guards every POST: same origin and the session's synchroniser token.
func (c *Console) csrf(g *gin.Context) {
	if !c.sameOrigin(g.Request) {
		c.refuse(g, http.StatusForbidden, "cross_site", "This request did not come from the console's own pages, so it was refused.")
		return
	}
	s := sess(g)
	tok := g.PostForm("csrf")
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.rec.CSRF)) != 1 {
		c.refuse(g, http.StatusForbidden, "csrf", "This form's security token is missing or out of date. Reload the page and try again.")
		return
	}
	g.Next()
}
