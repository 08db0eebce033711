package console

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/keystore"
)

type principalsPage struct {
	Principals []issuer.Principal
	Done       string
}

func (c *Console) principals(g *gin.Context) {
	s := sess(g)
	ps, err := c.cfg.Issuer.Principals(g.Request.Context(), s.principal)
	if err != nil {
		c.fail(g, err)
		return
	}
	slices.SortFunc(ps, func(a, b issuer.Principal) int { return a.CreatedAt.Compare(b.CreatedAt) })
	c.render(g, http.StatusOK, "principals", s, &principalsPage{Principals: ps, Done: g.Query("done")})
}

func (c *Console) addPrincipal(g *gin.Context) {
	s := sess(g)
	var ttl time.Duration
	if v := g.PostForm("maxTtl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.refuse(g, http.StatusBadRequest, string(issuer.CodeInvalidRequest), "Maximum lifetime must be a duration such as 30m or 1h.")
			return
		}
		ttl = d
	}
	_, err := c.cfg.Issuer.AddPrincipal(g.Request.Context(), s.principal, issuer.Principal{
		DID: g.PostForm("did"), Role: issuer.Role(g.PostForm("role")), Name: g.PostForm("name"),
		Ceiling: splitList(g.PostForm("ceiling")), Audiences: splitList(g.PostForm("audiences")), MaxTTL: ttl,
	})
	if err != nil {
		c.fail(g, err)
		return
	}
	g.Redirect(http.StatusSeeOther, "/console/principals?done=add")
}

type removePage struct {
	Principal issuer.Principal
	// Agents are the agents it registered that are not retired: their
	// live credentials are suspended by the removal.
	Agents int
}

// confirmRemove names what removing a principal stops before it is done.
func (c *Console) confirmRemove(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	ps, err := c.cfg.Issuer.Principals(ctx, s.principal)
	if err != nil {
		c.fail(g, err)
		return
	}
	i := slices.IndexFunc(ps, func(p issuer.Principal) bool { return p.DID == g.Query("did") })
	if i < 0 {
		c.refuse(g, http.StatusNotFound, string(issuer.CodeUnknownPrincipal), "No such principal.")
		return
	}
	agents, err := c.cfg.Issuer.Agents(ctx, s.principal, issuer.AgentFilter{CreatedBy: ps[i].DID})
	if err != nil {
		c.fail(g, err)
		return
	}
	n := 0
	for _, a := range agents {
		if !a.Retired {
			n++
		}
	}
	c.render(g, http.StatusOK, "removeprincipal", s, &removePage{Principal: ps[i], Agents: n})
}

func (c *Console) removePrincipal(g *gin.Context) {
	s := sess(g)
	if err := c.cfg.Issuer.RemovePrincipal(g.Request.Context(), s.principal, g.PostForm("did")); err != nil {
		c.fail(g, err)
		return
	}
	g.Redirect(http.StatusSeeOther, "/console/principals?done=remove")
}

type keysPage struct {
	DID  string
	Keys []keystore.PublicKey
	Done string
}

func (c *Console) keys(g *gin.Context) {
	s := sess(g)
	if s.principal.Role != issuer.RoleAdmin {
		c.refuse(g, http.StatusForbidden, string(issuer.CodeForbidden), "Keys are for admins.")
		return
	}
	ks, err := c.cfg.Issuer.Keys(g.Request.Context())
	if err != nil {
		c.fail(g, err)
		return
	}
	c.render(g, http.StatusOK, "keys", s, &keysPage{DID: c.cfg.Issuer.DID(), Keys: ks, Done: g.Query("done")})
}

func (c *Console) rotateKey(g *gin.Context) {
	s := sess(g)
	if _, err := c.cfg.Issuer.RotateKey(g.Request.Context(), s.principal); err != nil {
		c.fail(g, err)
		return
	}
	g.Redirect(http.StatusSeeOther, "/console/keys?done=rotate")
}

// auditLimit is how many events the audit timeline shows (the latest
// matching).
const auditLimit = 200

type auditPage struct {
	Agent, Actor, Action, Decision, Since string
	Events                                []audit.Event
	// More: more events matched than are shown.
	More  bool
	Check *audit.VerifyReport
	// Export is the filter as a query (url.Values.Encode: a safe URL
	// part as it is).
	Export template.URL
}

// auditFilter reads the audit page's filter from the query.
func auditFilter(g *gin.Context, now time.Time) (*auditPage, audit.Filter, bool) {
	p := &auditPage{Agent: g.Query("agent"), Actor: g.Query("actor"), Action: g.Query("action"),
		Decision: g.Query("decision"), Since: g.Query("since")}
	f := audit.Filter{Agent: p.Agent, Actor: p.Actor, Action: p.Action, Decision: p.Decision}
	if p.Since != "" {
		d, err := time.ParseDuration(p.Since)
		if err != nil || d <= 0 {
			return p, f, false
		}
		f.Since = now.Add(-d)
	}
	v := url.Values{}
	for k, val := range map[string]string{"agent": p.Agent, "actor": p.Actor, "action": p.Action, "decision": p.Decision, "since": p.Since} {
		if val != "" {
			v.Set(k, val)
		}
	}
	p.Export = template.URL(v.Encode())
	return p, f, true
}

func (c *Console) auditPage(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	p, f, ok := auditFilter(g, c.cfg.Now())
	if !ok {
		c.refuse(g, http.StatusBadRequest, string(issuer.CodeInvalidRequest), "'Since' must be a duration such as 1h or 24h.")
		return
	}
	n := 0
	err := c.cfg.Issuer.AuditQuery(ctx, s.principal, f, func(ev *audit.Event) error {
		n++
		p.Events = append(p.Events, *ev)
		if len(p.Events) > auditLimit {
			p.Events = p.Events[1:]
		}
		return nil
	})
	if err != nil {
		c.fail(g, err)
		return
	}
	p.More = n > len(p.Events)
	slices.Reverse(p.Events)
	if g.Query("check") == "1" {
		if p.Check, err = c.cfg.Issuer.AuditVerify(ctx, s.principal); err != nil {
			c.fail(g, err)
			return
		}
	}
	c.render(g, http.StatusOK, "audit", s, p)
}

// auditExport sends the matching events as JSON lines, the format of
// `agentid audit export`.
func (c *Console) auditExport(g *gin.Context) {
	s := sess(g)
	_, f, ok := auditFilter(g, c.cfg.Now())
	if !ok {
		c.refuse(g, http.StatusBadRequest, string(issuer.CodeInvalidRequest), "'Since' must be a duration such as 1h or 24h.")
		return
	}
	// Buffered, so that a refusal or failure is a page, not a cut file.
	var buf bytes.Buffer
	if err := c.cfg.Issuer.AuditExport(g.Request.Context(), s.principal, f, &buf); err != nil {
		c.fail(g, err)
		return
	}
	g.Header("Content-Disposition", `attachment; filename="agentid-audit-`+strconv.FormatInt(c.cfg.Now().Unix(), 10)+`.jsonl"`)
	g.Header("Cache-Control", "no-store")
	g.Data(http.StatusOK, "application/x-ndjson", buf.Bytes())
}
