package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// Audit reads: admins only. A refusal is itself audited.

func (is *Issuer) adminRead(ctx context.Context, actor *Principal, what string, op func() error) error {
	ev := is.event(actor, audit.ActionAuditRead)
	ev.Resource = what
	return is.guard(ctx, ev, func(*audit.Event) error {
		if actor.Role != RoleAdmin {
			return fail(KindForbidden, CodeForbidden, "admins only")
		}
		return op()
	})
}

// AuditQuery calls fn for each event matching f, in sequence order (newest
// first with f.Reverse).
func (is *Issuer) AuditQuery(ctx context.Context, actor *Principal, f audit.Filter, fn func(*audit.Event) error) error {
	return is.adminRead(ctx, actor, "events", func() error {
		if err := f.Validate(); err != nil {
			return badRequest("%v", err)
		}
		return is.audit.Query(ctx, f, fn)
	})
}

// AuditExport writes the events matching f to w as JSON lines, in chain
// order (f.Reverse is refused: an export is for checking the chain).
func (is *Issuer) AuditExport(ctx context.Context, actor *Principal, f audit.Filter, w io.Writer) error {
	return is.adminRead(ctx, actor, "export", func() error {
		if err := f.Validate(); err != nil {
			return badRequest("%v", err)
		}
		if f.Reverse {
			return badRequest("an export is in chain order, oldest first; order=desc is for queries")
		}
		return is.audit.Export(ctx, f, w)
	})
}

// AuditSummary summarises the trail since the given time, with the
// inventory's view of each agent (dormant, expired, retired).
func (is *Issuer) AuditSummary(ctx context.Context, actor *Principal, since time.Duration) (*audit.Summary, error) {
	var out *audit.Summary
	err := is.adminRead(ctx, actor, "summary", func() error {
		if since <= 0 {
			return badRequest("since must be a positive duration such as 24h")
		}
		states, err := is.AgentStates(ctx)
		if err != nil {
			return err
		}
		out, err = is.audit.Summary(ctx, is.cfg.Now().Add(-since), audit.SummaryOptions{Agents: states})
		return err
	})
	return out, err
}

// AuditVerify checks the whole chain. A broken chain is an answer, not a
// failure: the report says where.
func (is *Issuer) AuditVerify(ctx context.Context, actor *Principal) (*audit.VerifyReport, error) {
	var out *audit.VerifyReport
	err := is.adminRead(ctx, actor, "verify", func() error {
		rep, err := is.audit.Verify(ctx)
		if err != nil && rep == nil {
			return err
		}
		out = rep
		return nil
	})
	return out, err
}

// IngestSkew bounds the time of a reported event: IngestAudit clamps it to
// the issuer's clock ± IngestSkew.
const IngestSkew = 5 * time.Minute

// IngestAudit takes the audit events that a principal's own verifiers
// (embedded verifier libraries, forwarding with audit.Forwarder) report, as
// JSON lines of audit.Event, into this issuer's trail. Admins and
// orchestrators may report; an orchestrator only about the agents it
// created (the subject must be one of them, or empty), an admin about any.
// A report about another's agent (or an unknown one) is refused as
// CodeForbidden, naming the line.
//
// Each line is decoded strictly (unknown members are refused) and only the
// fields a verifier sets are kept: time, requestId, action (which must be
// "verify"), subject, credential, resource, scopes, decision, reason,
// detail and sourceIp. seq, prev and hash are ignored and assigned here.
// The actor is always the authenticated principal; a different actor
// claimed in the line is kept in detail, as "claimed actor: <did>". Time is
// the verifier's, stamped with the issuer's clock when absent and clamped
// to the issuer's clock ± IngestSkew (the time claimed is then kept in
// detail, as "reported time: <RFC 3339>"). Every ingested event is marked
// Reported, whatever the line says: the audit summary does not let
// reported events move an agent's last-seen time or its rate baseline.
//
// The batch is appended in one transaction, durable before IngestAudit
// returns: on success every event is in the trail, and on a refusal (one
// naming the first bad line) none is.
func (is *Issuer) IngestAudit(ctx context.Context, actor *Principal, body []byte) (int, error) {
	n := 0
	err := is.guard(ctx, is.event(actor, audit.ActionAuditIngest), func(*audit.Event) error {
		if actor.Role != RoleAdmin && actor.Role != RoleOrchestrator {
			return fail(KindForbidden, CodeForbidden, "admins and orchestrators only")
		}
		evs, lines, err := ingestEvents(body, actor.DID)
		if err != nil {
			return err
		}
		now := is.cfg.Now().UTC()
		for _, ev := range evs {
			clampTime(ev, now)
		}
		err = is.db.Update(ctx, func(tx store.Tx) error {
			for i, ev := range evs {
				if actor.Role != RoleAdmin && ev.Subject != "" {
					var a agentRecord
					ok, err := getJSON(tx, bucketAgents, ev.Subject, &a)
					if err != nil {
						return err
					}
					if !ok || a.CreatedBy != actor.DID {
						return fail(KindForbidden, CodeForbidden,
							"line %d: subject is not an agent the caller created; no event was appended", lines[i])
					}
				}
				if err := is.audit.AppendTx(tx, ev); err != nil {
					if errors.Is(err, audit.ErrInvalidEvent) {
						return ingestError(lines[i], err.Error())
					}
					return err
				}
			}
			return nil
		})
		if err != nil {
			return wrapInternal(err, "audit ingest")
		}
		n = len(evs)
		return nil
	})
	return n, err
}

// clampTime stamps an event without time with now and clamps the time of
// one outside now ± IngestSkew to that bound, keeping the claimed time in
// its detail.
func clampTime(ev *audit.Event, now time.Time) {
	if ev.Time.IsZero() {
		ev.Time = now
		return
	}
	lo, hi := now.Add(-IngestSkew), now.Add(IngestSkew)
	if !ev.Time.Before(lo) && !ev.Time.After(hi) {
		return
	}
	claimed := ev.Time.UTC().Format(time.RFC3339Nano)
	if ev.Time.Before(lo) {
		ev.Time = lo
	} else {
		ev.Time = hi
	}
	d := "reported time: " + claimed
	if ev.Detail != "" {
		d += "; " + ev.Detail
	}
	ev.Detail = d
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
		return nil, nil, badRequest("no events in the body")
	}
	return evs, lines, nil
}

func ingestError(line int, detail string) error {
	return badRequest("line %d: %s; no event was appended", line, detail)
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
		Reason: in.Reason, Detail: in.Detail, SourceIP: in.SourceIP, Reported: true,
	}
	if in.Actor != "" && in.Actor != actor {
		ev.Detail = "claimed actor: " + in.Actor
		if in.Detail != "" {
			ev.Detail += "; " + in.Detail
		}
	}
	return ev, nil
}
