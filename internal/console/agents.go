package console

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
)

// inventoryPage is the size of an inventory page.
const inventoryPage = 50

// inventoryScan bounds the records one inventory request walks to fill a
// page with a selective filter; the page then offers to continue.
const inventoryScan = 4 * issuer.MaxAgentPage

type agentsPage struct {
	Owner, Scope, Status, Creator, Q, Task string
	Statuses                               []string
	Agents                                 []issuer.Agent
	// Next is the query of the following page, "" on the last: the
	// output of url.Values.Encode, so a safe URL part as it is.
	Next template.URL
	// Short: the scan stopped before the page filled.
	Short bool
}

func (c *Console) inventory(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	p := &agentsPage{Owner: g.Query("owner"), Scope: g.Query("scope"), Status: g.Query("status"),
		Creator: g.Query("creator"), Q: strings.TrimSpace(g.Query("q")), Task: g.Query("task"), Statuses: statuses}
	if p.Status != "" && !slices.Contains(statuses, p.Status) {
		c.refuse(g, http.StatusBadRequest, "invalid_request", "Unknown status filter.")
		return
	}
	f := issuer.AgentFilter{CreatedBy: p.Creator, Status: p.Status}
	match := func(a *issuer.Agent) bool {
		return (p.Owner == "" || strings.EqualFold(a.Owner, p.Owner)) &&
			(p.Scope == "" || containsFold(a.Scopes, p.Scope)) &&
			(p.Q == "" || strings.Contains(a.DID, p.Q)) &&
			(p.Task == "" || a.Task == p.Task)
	}
	cursor, next := g.Query("cursor"), ""
	scanned := 0
	for {
		page, more, err := c.cfg.Issuer.AgentPage(ctx, s.principal, f, cursor, issuer.MaxAgentPage)
		if err != nil {
			c.fail(g, err)
			return
		}
		for i := range page {
			scanned++
			if !match(&page[i]) {
				continue
			}
			if len(p.Agents) == inventoryPage {
				next = p.Agents[len(p.Agents)-1].DID
				break
			}
			p.Agents = append(p.Agents, page[i])
		}
		if next != "" || more == "" {
			break
		}
		cursor = more
		if scanned >= inventoryScan {
			next, p.Short = cursor, true
			break
		}
	}
	if next != "" {
		v := url.Values{}
		for k, val := range map[string]string{"owner": p.Owner, "scope": p.Scope, "status": p.Status, "creator": p.Creator, "q": p.Q, "task": p.Task, "cursor": next} {
			if val != "" {
				v.Set(k, val)
			}
		}
		p.Next = template.URL(v.Encode())
	}
	c.render(g, http.StatusOK, "agents", s, p)
}

type agentPage struct {
	Agent       *issuer.Agent
	Credentials []credentialView
	// Decisions are the agent's latest audit events, newest first (nil
	// for an orchestrator: the audit trail is for admins).
	Decisions []audit.Event
	Done      string
	// Delegation is its chain and its sub-agents.
	Delegation *delegationView
}

type credentialView struct {
	issuer.Credential
	State   string
	Current bool
	// Live: neither revoked nor expired, so it can still be acted on.
	Live bool
}

// recentDecisions is how many audit events the agent page shows.
const recentDecisions = 20

func (c *Console) agent(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	id := g.Query("did")
	a, err := c.cfg.Issuer.Agent(ctx, s.principal, id)
	if err != nil {
		c.fail(g, err)
		return
	}
	creds, err := c.cfg.Issuer.AgentCredentials(ctx, s.principal, id)
	if err != nil {
		c.fail(g, err)
		return
	}
	p := &agentPage{Agent: a, Done: g.Query("done")}
	if p.Delegation, err = c.delegation(ctx, s, a); err != nil {
		c.fail(g, err)
		return
	}
	now := c.cfg.Now()
	for i := len(creds) - 1; i >= 0; i-- {
		cr := creds[i]
		v := credentialView{Credential: cr, Current: cr.ID == a.CurrentCredential}
		switch {
		case cr.Revoked:
			v.State = "revoked"
		case !now.Before(cr.ValidUntil):
			v.State = "expired"
		case cr.Suspended:
			v.State, v.Live = "suspended", true
		default:
			v.State, v.Live = "active", true
		}
		p.Credentials = append(p.Credentials, v)
	}
	if s.principal.Role == issuer.RoleAdmin {
		var ring []audit.Event
		err := c.cfg.Issuer.AuditQuery(ctx, s.principal, audit.Filter{Agent: id}, func(ev *audit.Event) error {
			ring = append(ring, *ev)
			if len(ring) > recentDecisions {
				ring = ring[1:]
			}
			return nil
		})
		if err != nil {
			c.fail(g, err)
			return
		}
		slices.Reverse(ring)
		p.Decisions = ring
	}
	c.render(g, http.StatusOK, "agent", s, p)
}

// agentActions are the actions of the agent page.
var agentActions = map[string]string{"revoke": "Revoke", "suspend": "Suspend", "reinstate": "Reinstate", "retire": "Retire"}

type confirmPage struct {
	Agent      *issuer.Agent
	Action     string
	Verb       string
	Credential string
	// Cascades: the action reaches the agent's sub-agents (retiring it,
	// or revoking or suspending its current credential); Stop counts
	// those of them still in service, Tree shows them.
	Cascades bool
	Stop     int
	Tree     *treeNode
}

// confirm names what an action will stop before it is taken.
func (c *Console) confirm(g *gin.Context) {
	s := sess(g)
	action, cred := g.Query("action"), g.Query("credential")
	verb, ok := agentActions[action]
	if !ok || (action != "retire" && cred == "") {
		c.refuse(g, http.StatusBadRequest, "invalid_request", "Unknown action.")
		return
	}
	a, err := c.cfg.Issuer.Agent(g.Request.Context(), s.principal, g.Query("did"))
	if err != nil {
		c.fail(g, err)
		return
	}
	if action != "retire" && !slices.Contains(a.Credentials, cred) {
		c.refuse(g, http.StatusNotFound, string(issuer.CodeUnknownCredential), "That credential is not this agent's.")
		return
	}
	p := &confirmPage{Agent: a, Action: action, Verb: verb, Credential: cred,
		Cascades: action == "retire" || ((action == "revoke" || action == "suspend") && cred == a.CurrentCredential)}
	if p.Cascades {
		if p.Tree, err = c.subtree(g.Request.Context(), s, a); err != nil {
			c.fail(g, err)
			return
		}
		_, p.Stop = p.Tree.count()
	}
	c.render(g, http.StatusOK, "confirm", s, p)
}

// agentAction takes a confirmed action through the issuer, as the API's
// handlers do.
func (c *Console) agentAction(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	id, action, cred := g.PostForm("did"), g.PostForm("action"), g.PostForm("credential")
	var err error
	switch action {
	case "revoke", "suspend", "reinstate":
		// The credential must be the named agent's: the redirect below
		// names the agent, and a mismatch is a forged form.
		a, aerr := c.cfg.Issuer.Agent(ctx, s.principal, id)
		if aerr != nil {
			c.fail(g, aerr)
			return
		}
		if !slices.Contains(a.Credentials, cred) {
			c.refuse(g, http.StatusNotFound, string(issuer.CodeUnknownCredential), "That credential is not this agent's.")
			return
		}
		_, err = c.cfg.Issuer.SetStatus(ctx, s.principal, cred, issuer.StatusAction(action))
	case "retire":
		_, err = c.cfg.Issuer.Retire(ctx, s.principal, id)
	default:
		c.refuse(g, http.StatusBadRequest, "invalid_request", "Unknown action.")
		return
	}
	if err != nil {
		c.fail(g, err)
		return
	}
	g.Redirect(http.StatusSeeOther, "/console/agent?did="+url.QueryEscape(id)+"&done="+action)
}
