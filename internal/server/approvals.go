package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/internal/approvalfeed"
	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/issuer"
)

func wireApproval(a *issuer.Approval) api.Approval {
	out := api.Approval{ID: a.ID, Requester: a.Requester, Agent: a.Agent, Scopes: a.Scopes, Audiences: a.Audiences,
		Owner: a.Owner, Purpose: a.Purpose, Task: a.Task, NeedApproval: a.NeedApproval, Status: a.Status,
		CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt, DecidedBy: a.DecidedBy, DecidedAt: a.DecidedAt, Reason: a.Reason}
	if a.Issued != nil {
		out.Issued = &api.Issued{Credential: a.Issued.Credential, ID: a.Issued.ID, ValidUntil: a.Issued.ValidUntil}
	}
	return out
}

// listApprovals is GET /v1/approvals[?status=pending].
func (s *Server) listApprovals(c *gin.Context) {
	out, err := s.app.Issuer.Approvals(c.Request.Context(), principal(c), c.Query("status"))
	if err != nil {
		s.fail(c, err)
		return
	}
	list := api.ApprovalList{Approvals: make([]api.Approval, len(out))}
	for i := range out {
		list.Approvals[i] = wireApproval(&out[i])
	}
	c.JSON(http.StatusOK, list)
}

// getApprovalAny is GET /v1/approvals/{id}: a presentation that envelops
// a credential is an agent asking about its own sub-agent request; any
// other is a principal's, authenticated as on every principal route.
func (s *Server) getApprovalAny(c *gin.Context) {
	tok, ok := s.agentRequest(c, s.getApproval)
	if !ok {
		return
	}
	wait, ok := s.approvalWait(c)
	if !ok {
		return
	}
	a, err := s.app.Issuer.GetApprovalAsAgent(withSource(c), tok, c.Request.Method, s.requestURL(c), c.Param("id"), wait)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, wireApproval(a))
}

// approvalWait reads the wait parameter, or answers 400 and reports false.
func (s *Server) approvalWait(c *gin.Context) (time.Duration, bool) {
	v := c.Query("wait")
	if v == "" {
		return 0, true
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, err2 := strconv.Atoi(v)
		if err2 != nil {
			s.fail(c, issuer.InvalidRequest("wait must be a duration (30s) or a number of seconds"))
			return 0, false
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > issuer.MaxApprovalWait {
		s.fail(c, issuer.InvalidRequest(fmt.Sprintf("wait must be within [0, %v]", issuer.MaxApprovalWait)))
		return 0, false
	}
	return d, true
}

// getApproval is GET /v1/approvals/{id}[?wait=30s]: with wait, a long
// poll that answers as soon as the request is decided or expires.
func (s *Server) getApproval(c *gin.Context) {
	wait, ok := s.approvalWait(c)
	if !ok {
		return
	}
	a, err := s.app.Issuer.GetApproval(c.Request.Context(), principal(c), c.Param("id"), wait)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, wireApproval(a))
}

// decideApproval is POST /v1/approvals/{id}/approve and .../deny.
func (s *Server) decideApproval(c *gin.Context) {
	d := c.Param("decision")
	if d != "approve" && d != "deny" {
		problem.Write(c.Writer, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	var req api.Decision
	if err := decode(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	decide := s.app.Issuer.Deny
	if d == "approve" {
		decide = s.app.Issuer.Approve
	}
	a, err := decide(c.Request.Context(), principal(c), c.Param("id"), req.Reason)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wireApproval(a))
}

// approvalEvents is GET /v1/approvals/events: a server-sent-events feed of
// approval requests and decisions, for admins and approvers (a console, a
// chat bot). Each event is "event: <status>" with the approval as data; a
// comment line every 15 s keeps the stream alive.
func (s *Server) approvalEvents(c *gin.Context) {
	ch, stop, err := s.app.Issuer.SubscribeApprovals(principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	defer stop()
	approvalfeed.Serve(c.Request.Context(), c.Writer, ch, nil, func(ev issuer.ApprovalEvent) any { return wireApproval(ev.Approval) })
}
