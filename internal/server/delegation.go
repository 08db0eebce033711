package server

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/vc"
)

// issueAny is POST /v1/agents. A request presentation that envelops a
// credential is an agent asking for a sub-agent (issuer.IssueAsAgent);
// any other is a principal's, authenticated as on every principal route.
// Which one it is decides only the path: each verifies the presentation in
// full.
func (s *Server) issueAny(c *gin.Context) {
	tok, ok := s.agentRequest(c, s.issue)
	if !ok {
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, decodeReader(errReader{err}, nil))
		return
	}
	var req api.IssueRequest
	if err := decodeReader(bytes.NewReader(body), &req); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.app.Issuer.IssueAsAgent(withSource(c), tok, c.Request.Method, s.requestURL(c), body, issueRequest(&req))
	s.count("issue", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.issued(c, out)
}

// issueRequest is the issuer's form of an issuance request, the same for
// a principal's (issue) and an agent's (issueAny).
func issueRequest(req *api.IssueRequest) issuer.IssueRequest {
	return issuer.IssueRequest{
		Agent: req.Agent, Proof: req.Proof, Scopes: req.Scopes, Audiences: req.Audiences,
		TTL: time.Duration(req.TTL), Lifetime: time.Duration(req.Lifetime), Owner: req.Owner, Purpose: req.Purpose,
		OnBehalfOf: req.OnBehalfOf, Constraints: req.Constraints, Task: req.Task, MaxDepth: req.MaxDepth,
	}
}

// agentRequest serves the routes that both agents and principals call. A
// request presentation that envelops a credential is an agent's: its
// token is returned with true. Any other is a principal's: it is
// authenticated as on every principal route and, unless that aborts,
// served by principalRoute. A request without a readable presentation is
// answered with its error. In both cases agentRequest reports false.
func (s *Server) agentRequest(c *gin.Context, principalRoute gin.HandlerFunc) (string, bool) {
	tok, err := presentation(c)
	if err != nil {
		s.fail(c, err)
		return "", false
	}
	if pp, err := vc.ParsePresentation(tok); err != nil || len(pp.Presentation.VerifiableCredential) == 0 {
		s.authenticate(c)
		if !c.IsAborted() {
			principalRoute(c)
		}
		return "", false
	}
	return tok, true
}

// issued answers an issuance: 201 with the credential, or 202 with the
// approval it waits for.
func (s *Server) issued(c *gin.Context, out *issuer.Issued) {
	if out.Pending != nil {
		c.Header("Location", s.app.cfg.IssuerURL+"/v1/approvals/"+out.Pending.ID)
		c.JSON(http.StatusAccepted, api.Pending{Approval: out.Pending.ID, Status: out.Pending.Status})
		return
	}
	c.JSON(http.StatusCreated, wireIssued(out))
}

// retireTask is POST /v1/jobs/{task}/retire: every agent of a job.
func (s *Server) retireTask(c *gin.Context) {
	s.retireGroup(c, func() ([]issuer.Agent, error) {
		return s.app.Issuer.RetireTask(c.Request.Context(), principal(c), c.Param("task"))
	})
}

// retireGroup answers a retirement of several agents with their records.
func (s *Server) retireGroup(c *gin.Context, retire func() ([]issuer.Agent, error)) {
	out, err := retire()
	s.count("retire", err)
	if err != nil {
		s.fail(c, err)
		return
	}
	list := api.AgentList{Agents: make([]api.Agent, len(out))}
	for i := range out {
		list.Agents[i] = *wireAgent(&out[i])
	}
	c.JSON(http.StatusOK, list)
}
