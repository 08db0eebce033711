package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/internal/approvalfeed"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/store"
)

// decidedShown bounds the decided requests the approvals page lists
// (newest first).
const decidedShown = 50

// approvalView is one approval request as the console shows it.
type approvalView struct {
	issuer.Approval
	// Mine: the signed-in principal asked for it (and so may not decide
	// it).
	Mine bool
	// Tree: one of the signed-in principal's agents asked for it (a
	// sub-agent's request, under the principal's tree), so the issuer
	// refuses the principal's decision too (approval_self). The page
	// offers a decision only when neither Mine nor Tree holds
	// (Approval.Self, the issuer's own rule).
	Tree bool
	// Age is how long it has waited; Left how long it may still wait
	// (pending only).
	Age, Left string
}

// needs reports whether scope is one that needed approval.
func (v approvalView) Needs(scope string) bool { return slices.Contains(v.NeedApproval, scope) }

type approvalsPage struct {
	Pending, Decided []approvalView
	// More counts decided requests not listed.
	More int
	// Decides: the principal may approve and deny (an admin, an
	// approver, or an orchestrator registered as one); otherwise the
	// page lists its own requests.
	Decides bool
	// Names are the registered principals' names by DID (for admins,
	// who may read the registry).
	Names map[string]string
}

type approvalPage struct {
	A       approvalView
	Decides bool
	Done    string
	Names   map[string]string
}

// principalNames maps the registered principals' DIDs to their names, for
// an admin; nil for others (the registry is for admins).
func (c *Console) principalNames(ctx context.Context, s *session) (map[string]string, error) {
	if s.principal.Role != issuer.RoleAdmin {
		return nil, nil
	}
	ps, err := c.cfg.Issuer.Principals(ctx, s.principal)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		if p.Name != "" {
			out[p.DID] = p.Name
		}
	}
	return out, nil
}

// mayDecide mirrors the issuer's rule for who decides approval requests;
// the issuer enforces it on every decision.
func mayDecide(p *issuer.Principal) bool {
	return p.Role == issuer.RoleAdmin || p.Role == issuer.RoleApprover || p.Approver
}

func (c *Console) viewApproval(s *session, a *issuer.Approval, now time.Time) approvalView {
	v := approvalView{Approval: *a, Mine: a.Requester == s.principal.DID}
	v.Tree = a.Self && !v.Mine
	v.Issued = nil // the credential is the requester's, for its program, not for a page
	v.Age = age(now.Sub(a.CreatedAt))
	if a.Status == issuer.ApprovalPending {
		v.Left = age(a.ExpiresAt.Sub(now))
	}
	return v
}

// age writes a duration as a person reads it: 45s, 3m, 2h5m, 3d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// approvals lists pending requests, oldest first, and the latest decided
// ones: every request for those who decide, its own for an orchestrator
// (the issuer's rule).
func (c *Console) approvals(g *gin.Context) {
	s := sess(g)
	all, err := c.cfg.Issuer.Approvals(g.Request.Context(), s.principal, "")
	if err != nil {
		c.fail(g, err)
		return
	}
	now := c.cfg.Now()
	p := &approvalsPage{Decides: mayDecide(s.principal)}
	if p.Names, err = c.principalNames(g.Request.Context(), s); err != nil {
		c.fail(g, err)
		return
	}
	for i := range all {
		v := c.viewApproval(s, &all[i], now)
		if v.Status == issuer.ApprovalPending {
			p.Pending = append(p.Pending, v)
		} else {
			p.Decided = append(p.Decided, v)
		}
	}
	// Decided: the latest decision (or expiry) first.
	when := func(v approvalView) time.Time {
		if v.DecidedAt != nil {
			return *v.DecidedAt
		}
		return v.ExpiresAt
	}
	slices.SortStableFunc(p.Decided, func(a, b approvalView) int { return when(b).Compare(when(a)) })
	if len(p.Decided) > decidedShown {
		p.More = len(p.Decided) - decidedShown
		p.Decided = p.Decided[:decidedShown]
	}
	c.render(g, http.StatusOK, "approvals", s, p)
}

// approval shows one request; an orchestrator may open only its own (the
// issuer answers unknown_approval for any other).
func (c *Console) approval(g *gin.Context) {
	s := sess(g)
	a, err := c.cfg.Issuer.GetApproval(g.Request.Context(), s.principal, g.Query("id"), 0)
	if err != nil {
		c.fail(g, err)
		return
	}
	names, err := c.principalNames(g.Request.Context(), s)
	if err != nil {
		c.fail(g, err)
		return
	}
	c.render(g, http.StatusOK, "approval", s, &approvalPage{A: c.viewApproval(s, a, c.cfg.Now()),
		Decides: mayDecide(s.principal), Done: g.Query("done"), Names: names})
}

// decideApproval approves or denies a request through the issuer, as
// POST /v1/approvals/{id}/approve|deny does: the issuer refuses a missing
// reason, the requester itself, a decided or expired request, and audits
// every decision and refusal under the principal's DID.
func (c *Console) decideApproval(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	id, why := g.PostForm("id"), strings.TrimSpace(g.PostForm("reason"))
	var err error
	switch g.PostForm("decision") {
	case "approve":
		_, err = c.cfg.Issuer.Approve(ctx, s.principal, id, why)
	case "deny":
		_, err = c.cfg.Issuer.Deny(ctx, s.principal, id, why)
	default:
		c.refuse(g, http.StatusBadRequest, string(issuer.CodeInvalidRequest), "Approve or deny.")
		return
	}
	if err != nil {
		c.fail(g, err)
		return
	}
	g.Redirect(http.StatusSeeOther, "/console/approval?id="+url.QueryEscape(id)+"&done="+g.PostForm("decision"))
}

// approvalEvents is the approvals feed for the console's pages: the
// issuer's approval changes, the same that GET /v1/approvals/events
// serves, here authenticated by the session (a browser's EventSource
// cannot sign a request presentation). Each event is "event: <status>"
// with the approval's id and status as data; only those who decide may
// follow it. The stream ends when the session does (sign-out, timeout, the
// principal removed or no longer deciding): it is checked again before
// every event and keep-alive.
func (c *Console) approvalEvents(g *gin.Context) {
	s := sess(g)
	ch, stop, err := c.cfg.Issuer.SubscribeApprovals(s.principal)
	if err != nil {
		c.fail(g, err)
		return
	}
	defer stop()
	ctx := g.Request.Context()
	approvalfeed.Serve(ctx, g.Writer, ch, func() bool { return c.sessionLive(ctx, s) }, func(ev issuer.ApprovalEvent) any {
		return struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}{ev.Approval.ID, ev.Type}
	})
}

// sessionLive reports whether the session s still stands: not signed
// out, within its timeouts (a stream is no use of the session), its
// principal still registered and still one who decides.
func (c *Console) sessionLive(ctx context.Context, s *session) bool {
	var rec sessionRecord
	found := false
	err := c.cfg.DB.View(ctx, func(tx store.Tx) error {
		rec, found = c.getSession(tx.Bucket(bucketSessions), s.key)
		return nil
	})
	now := c.cfg.Now()
	if err != nil || !found || now.Sub(rec.Seen) >= c.cfg.IdleTimeout || now.Sub(rec.Created) >= c.cfg.AbsoluteTimeout {
		return false
	}
	p, err := c.cfg.Issuer.Principal(ctx, rec.Principal)
	return err == nil && mayDecide(p)
}
