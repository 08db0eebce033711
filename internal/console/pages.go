package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/store"
)

// view is what every page template gets.
type view struct {
	Title     string
	Principal *issuer.Principal
	Admin     bool
	CSRF      string
	Nav       []navItem
	Page      any
}

type navItem struct {
	Href, Title string
	Current     bool
}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"tsp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join": strings.Join,
}

// pageNames are the templates under templates/, each rendered inside
// layout.html (tree.html, the delegation tree, is shared by all).
var pageNames = []string{"overview", "agents", "agent", "confirm", "principals", "keys", "audit",
	"removeprincipal", "signedin", "signedout", "refused", "task", "approvals", "approval"}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/tree.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}

// render writes a page. s is nil on the pages shown without a session.
func (c *Console) render(g *gin.Context, status int, name string, s *session, page any) {
	v := view{Page: page}
	current := strings.TrimPrefix(g.FullPath(), "/console/")
	if s != nil {
		v.Principal, v.Admin, v.CSRF = s.principal, s.principal.Role == issuer.RoleAdmin, s.rec.CSRF
		for _, sec := range sections {
			if sec.AdminOnly && !v.Admin {
				continue
			}
			v.Nav = append(v.Nav, navItem{Href: "/console/" + sec.Path, Title: sec.Title,
				Current: current == sec.Path || (sec.Path == "agents" && (strings.HasPrefix(current, "agent") || current == "task")) ||
					(sec.Path == "approvals" && current == "approval")})
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, v); err != nil {
		c.log.Error("console: rendering a page failed", "page", name, "err", err)
		g.Header("Cache-Control", "no-store")
		g.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
		g.Abort()
		return
	}
	g.Header("Cache-Control", "no-store")
	g.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// refusal is the page of a refused request.
type refusal struct {
	Status  int
	Code    string
	Message string
}

// refuse answers a refused request with a page naming its code (also in
// the X-Agentid-Code header, for programs and tests), and stops the chain.
func (c *Console) refuse(g *gin.Context, status int, code, msg string) {
	g.Header("X-Agentid-Code", code)
	var s *session
	if v, ok := g.Get("console.session"); ok {
		s = v.(*session)
	}
	c.render(g, status, "refused", s, refusal{Status: status, Code: code, Message: msg})
	g.Abort()
}

// fail answers an error of the issuer: a refusal with its code and the
// status of its kind; the store failing as 503; anything else as 500,
// logged and never shown.
func (c *Console) fail(g *gin.Context, err error) {
	if e, ok := issuer.Refusal(err); ok {
		c.refuse(g, statusOf(e.Kind), string(e.Code), e.Detail)
		return
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrReadOnly) || errors.Is(err, audit.ErrUnavailable) {
		g.Header("Retry-After", "10")
		c.refuse(g, http.StatusServiceUnavailable, "unavailable", "Storage is unavailable; nothing was changed. Retry later.")
		return
	}
	c.log.Error("console: request failed", "route", g.FullPath(), "err", err)
	c.refuse(g, http.StatusInternalServerError, "internal", "Something went wrong; the server log has the details.")
}

// statusOf maps the issuer's kinds of refusal to HTTP, as the API does.
func statusOf(k issuer.Kind) int {
	switch k {
	case issuer.KindInvalid:
		return http.StatusBadRequest
	case issuer.KindUnauthenticated:
		return http.StatusUnauthorized
	case issuer.KindForbidden:
		return http.StatusForbidden
	case issuer.KindNotFound:
		return http.StatusNotFound
	case issuer.KindConflict:
		return http.StatusConflict
	case issuer.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case issuer.KindRateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// splitList splits a form field of comma- or space-separated entries.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}
