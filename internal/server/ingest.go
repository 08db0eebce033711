package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.etcd.io/bbolt"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
)

// MaxIngestBytes bounds the body of POST /v1/audit/events, where embedded
// verifiers forward their audit events in batches (audit.Forwarder keeps
// its batches under the same bound). Every other route is held to
// MaxBodyBytes.
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

// ingestAudit is POST /v1/audit/events: a principal (admin or orchestrator)
// forwards the decisions of verifiers it runs, as JSON lines of
// audit.Event, into this issuer's trail.
//
// Each line is decoded strictly (unknown members are refused) and only the
// fields a verifier sets are kept: time, requestId, action (which must be
// "verify"), subject, credential, resource, scopes, decision, reason,
// detail and sourceIp. seq, prev and hash are ignored and assigned here.
// The actor is always the authenticated principal; a different actor
// claimed in the line is kept in detail, as "claimed actor: <did>". Time is
// the verifier's, stamped with the issuer's clock only when absent.
//
// The batch is appended in one transaction, durable before the answer:
// 202 {"accepted": N} means every event is in the trail, and any refusal
// (400 naming the first bad line, 413 over MaxIngestBytes) means none is.
func (s *Server) ingestAudit(c *gin.Context) {
	p := principal(c)
	if p.Role != issuer.RoleAdmin && p.Role != issuer.RoleOrchestrator {
		s.fail(c, &issuer.Error{Status: http.StatusForbidden, Code: issuer.CodeForbidden, Detail: "admins and orchestrators only"})
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(c, &issuer.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Detail: fmt.Sprintf("body over %d bytes", mbe.Limit)})
			return
		}
		s.fail(c, &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: "cannot read the body"})
		return
	}
	evs, lines, err := ingestEvents(body, p.DID)
	if err != nil {
		s.fail(c, err)
		return
	}
	err = s.app.DB.Update(func(tx *bbolt.Tx) error {
		for i, ev := range evs {
			if err := s.app.Audit.AppendTx(tx, ev); err != nil {
				if errors.Is(err, audit.ErrInvalidEvent) {
					return ingestError(lines[i], err.Error())
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		var ie *issuer.Error
		if !errors.As(err, &ie) {
			err = fmt.Errorf("audit ingest: %w", err) // counted as an audit write failure
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"accepted": len(evs)})
}

// ingestEvents parses a body of JSON lines into the events to append, with
// the (1-based) line number of each. Blank lines are skipped; a body with
// no event is refused.
func ingestEvents(body []byte, actor string) ([]*audit.Event, []int, error) {
	var evs []*audit.Event
	var lines []int
	for n := 1; len(body) > 0; n++ {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		ev, err := ingestLine(line, actor)
		if err != nil {
			return nil, nil, ingestError(n, err.Error())
		}
		evs = append(evs, ev)
		lines = append(lines, n)
	}
	if len(evs) == 0 {
		return nil, nil, &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest, Detail: "no events in the body"}
	}
	return evs, lines, nil
}

func ingestError(line int, detail string) error {
	return &issuer.Error{Status: http.StatusBadRequest, Code: issuer.CodeInvalidRequest,
		Detail: fmt.Sprintf("line %d: %s; no event was appended", line, detail)}
}

// ingestLine decodes one line strictly and keeps what a verifier may set.
func ingestLine(line []byte, actor string) (*audit.Event, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	var in audit.Event
	if err := d.Decode(&in); err != nil {
		return nil, fmt.Errorf("not an audit event: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the event")
	}
	if in.Action != audit.ActionVerify {
		return nil, fmt.Errorf("action is %.40q; only %q events are accepted", in.Action, audit.ActionVerify)
	}
	if in.Decision != audit.DecisionAllow && in.Decision != audit.DecisionDeny {
		return nil, fmt.Errorf("decision is %.40q, not %q or %q", in.Decision, audit.DecisionAllow, audit.DecisionDeny)
	}
	ev := &audit.Event{
		Time: in.Time, RequestID: in.RequestID, Actor: actor, Action: in.Action, Subject: in.Subject,
		Credential: in.Credential, Resource: in.Resource, Scopes: in.Scopes, Decision: in.Decision,
		Reason: in.Reason, Detail: in.Detail, SourceIP: in.SourceIP,
	}
	if in.Actor != "" && in.Actor != actor {
		ev.Detail = "claimed actor: " + in.Actor
		if in.Detail != "" {
			ev.Detail += "; " + in.Detail
		}
	}
	return ev, nil
}
