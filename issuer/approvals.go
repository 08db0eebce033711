package issuer

// Approvals: a principal's ceiling may mark scopes as needing a person's
// yes. A request for one is recorded as a pending approval and changes
// nothing else; an admin or an approver principal (never the requester)
// approves or denies it with a reason; approving issues the credential, in
// the same transaction, carrying who approved, when and why.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
	"github.com/agentid/agentid/verifier"
)

// Approval refusal codes.
const (
	// CodeUnknownApproval: no such approval (or none the caller may see).
	CodeUnknownApproval Code = "unknown_approval"
	// CodeSelfApproval: the requester may not approve or deny its own
	// request.
	CodeSelfApproval Code = "approval_self"
	// CodeApprovalDecided: the request was already approved or denied.
	CodeApprovalDecided Code = "approval_decided"
	// CodeApprovalExpired: the request expired before it was decided.
	CodeApprovalExpired Code = "approval_expired"
)

// Approval statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExpired  = "expired"
)

// Audit actions of approvals.
const (
	ActionApprovalRequest = "approval.request"
	ActionApprovalApprove = "approval.approve"
	ActionApprovalDeny    = "approval.deny"
)

// DefaultApprovalTTL is how long a request waits for a decision when
// Config.ApprovalTTL is 0.
const DefaultApprovalTTL = 15 * time.Minute

// MaxApprovalWait bounds a long poll of one approval.
const MaxApprovalWait = 60 * time.Second

const bucketApprovals = "issuer.approvals"

// Approval is a request that waits, or waited, for an approver.
type Approval struct {
	ID        string
	Requester string
	Agent     string
	Scopes    []string
	Audiences []string
	Owner     string
	Purpose   string
	Task      string
	// NeedApproval lists the requested scopes that needed it.
	NeedApproval []string
	Status       string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	DecidedBy    string
	DecidedAt    *time.Time
	Reason       string
	// Issued is the credential issued on approval; only the requester
	// sees it.
	Issued *Issued
	// Self: the principal it was read as asked for it, or is the
	// principal whose tree asked (a sub-agent's request, made by one of
	// its agents), and so may not decide it (CodeSelfApproval), whatever
	// its role.
	Self bool
}

type approvalRecord struct {
	ID           string      `json:"id"`
	Requester    string      `json:"requester"`
	Agent        agentRecord `json:"agent"`
	TTL          duration    `json:"ttl"`
	Lifetime     duration    `json:"lifetime"`
	NeedApproval []string    `json:"needApproval"`
	Status       string      `json:"status"`
	CreatedAt    time.Time   `json:"createdAt"`
	ExpiresAt    time.Time   `json:"expiresAt"`
	DecidedBy    string      `json:"decidedBy,omitempty"`
	DecidedAt    *time.Time  `json:"decidedAt,omitempty"`
	Reason       string      `json:"reason,omitempty"`
	Credential   string      `json:"credential,omitempty"`
	CredentialID string      `json:"credentialId,omitempty"`
	ValidUntil   time.Time   `json:"validUntil,omitzero"`
}

// status is the record's status at now: a pending request past its
// expiry is expired.
func (r *approvalRecord) status(now time.Time) string {
	if r.Status == ApprovalPending && !now.Before(r.ExpiresAt) {
		return ApprovalExpired
	}
	return r.Status
}

func (r *approvalRecord) view(viewer string, now time.Time) *Approval {
	a := &Approval{ID: r.ID, Requester: r.Requester, Agent: r.Agent.DID, Scopes: r.Agent.Scopes, Audiences: r.Agent.Audiences,
		Owner: r.Agent.Owner, Purpose: r.Agent.Purpose, Task: r.Agent.Task, NeedApproval: r.NeedApproval,
		Status: r.status(now), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt,
		Reason: r.Reason, Self: r.self(viewer)}
	if r.Credential != "" && viewer == r.Requester {
		a.Issued = &Issued{Credential: r.Credential, ID: r.CredentialID, ValidUntil: r.ValidUntil}
	}
	return a
}

// self reports whether did may not decide the request because it is its
// own: did is the requester, or the root principal of the requesting
// agent's tree (r.Agent.CreatedBy), whose NeedApproval the request
// enforces.
func (r *approvalRecord) self(did string) bool {
	return r.Requester == did || r.Agent.CreatedBy == did
}

// needsApproval returns the requested scopes the principal's ceiling marks
// as needing approval.
func needsApproval(p *Principal, scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if AllowedBy(s, p.NeedApproval) {
			out = append(out, s)
		}
	}
	return out
}

// ApprovalEvent is one change to an approval, for the SSE feed.
type ApprovalEvent struct {
	Type     string // the approval's new status
	Approval *Approval
}

// approvalHub wakes long polls and feeds subscribers after each committed
// change.
type approvalHub struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	subs    map[chan ApprovalEvent]struct{}
	// earliest is the soonest expiry of the pending requests published
	// since the sweeper last looked (zero: none).
	earliest time.Time
}

// MaxApprovalSubscribers bounds the approval feed's subscribers.
const MaxApprovalSubscribers = 64

func (h *approvalHub) init() {
	if h.changed == nil {
		h.changed = make(chan struct{})
		h.subs = map[chan ApprovalEvent]struct{}{}
	}
}

func (h *approvalHub) wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	return h.changed
}

func (h *approvalHub) publish(ev ApprovalEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	if ev.Type == ApprovalPending && ev.Approval != nil && (h.earliest.IsZero() || ev.Approval.ExpiresAt.Before(h.earliest)) {
		h.earliest = ev.Approval.ExpiresAt
	}
	close(h.changed)
	h.changed = make(chan struct{})
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // a slow subscriber misses events rather than blocking
		}
	}
}

// SubscribeApprovals returns a channel of approval changes (for admins and
// approvers) and a function that ends the subscription. A subscriber that
// falls 64 events behind misses events.
func (is *Issuer) SubscribeApprovals(actor *Principal) (<-chan ApprovalEvent, func(), error) {
	if !mayApprove(actor) {
		return nil, nil, fail(KindForbidden, CodeForbidden, "only admins and approvers follow approval requests")
	}
	h := &is.approvals
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	if len(h.subs) >= MaxApprovalSubscribers {
		return nil, nil, fail(KindRateLimited, CodeRateLimited, "too many approval feed subscribers")
	}
	ch := make(chan ApprovalEvent, 64)
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}, nil
}

func mayApprove(p *Principal) bool {
	return p.Role == RoleAdmin || p.Role == RoleApprover || p.Approver
}

// requestApproval records a pending approval for agent a instead of
// issuing it.
func (is *Issuer) requestApproval(ctx context.Context, actor *Principal, ev *audit.Event, a *agentRecord, ttl, life time.Duration, need []string, now time.Time) (*Issued, error) {
	var out *Issued
	err := is.db.Update(ctx, func(tx store.Tx) error {
		if tx.Bucket(bucketAgents).Get([]byte(a.DID)) != nil {
			return fail(KindConflict, CodeAgentExists, "agent %s is already registered", a.DID)
		}
		var err error
		out, err = is.requestApprovalTx(tx, actor.DID, ev, a, ttl, life, need, now)
		return err
	})
	if err != nil {
		return nil, wrapInternal(err, "request approval")
	}
	return out, nil
}

// requestApprovalTx records, in tx, a pending approval of requester's
// request for agent a, and its audit event.
func (is *Issuer) requestApprovalTx(tx store.Tx, requester string, ev *audit.Event, a *agentRecord, ttl, life time.Duration, need []string, now time.Time) (*Issued, error) {
	ttlWait := is.cfg.ApprovalTTL
	if ttlWait == 0 {
		ttlWait = DefaultApprovalTTL
	}
	rec := &approvalRecord{ID: "urn:uuid:" + uuid.NewString(), Requester: requester, Agent: *a, TTL: duration(ttl),
		Lifetime: duration(life), NeedApproval: need, Status: ApprovalPending, CreatedAt: now, ExpiresAt: now.Add(ttlWait)}
	if err := putJSON(tx, bucketApprovals, rec.ID, rec); err != nil {
		return nil, err
	}
	done := *ev
	done.Action, done.Time, done.Decision, done.Scopes = ActionApprovalRequest, now, audit.DecisionAllow, need
	done.Detail = "approval " + rec.ID + " pending"
	done.Delegation = auditChain(a.Delegation)
	if err := is.audit.AppendTx(tx, &done); err != nil {
		return nil, err
	}
	v := rec.view("", now)
	announceApproval(tx, rec.ID)
	tx.OnCommit(func() { is.approvals.publish(ApprovalEvent{Type: ApprovalPending, Approval: v}) })
	return &Issued{Pending: rec.view(requester, now)}, nil
}

// Approve approves a pending request and issues its credential, in one
// durable transaction: the credential carries the approval (who, when,
// why), and the approval and the issuance each have their audit event.
// The approver is an admin or an approver principal, never the requester;
// a reason is required.
func (is *Issuer) Approve(ctx context.Context, actor *Principal, id, why string) (*Approval, error) {
	return is.decide(ctx, actor, id, why, true)
}

// Deny denies a pending request. See Approve.
func (is *Issuer) Deny(ctx context.Context, actor *Principal, id, why string) (*Approval, error) {
	return is.decide(ctx, actor, id, why, false)
}

func (is *Issuer) decide(ctx context.Context, actor *Principal, id, why string, approve bool) (*Approval, error) {
	var out *Approval
	ev := is.event(actor, ActionApprovalDeny)
	if approve {
		ev.Action = ActionApprovalApprove
	}
	ev.Resource = id
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		now := is.cfg.Now().UTC().Truncate(time.Second)
		if !mayApprove(actor) {
			return fail(KindForbidden, CodeForbidden, "only admins and approvers decide approval requests")
		}
		if strings.TrimSpace(why) == "" || len(why) > 1024 {
			return badRequest("a reason (not blank, at most 1024 bytes) is required")
		}
		var signer jws.Signer
		if approve {
			var err error
			if signer, err = is.Signer(ctx); err != nil {
				return err
			}
		}
		err := is.db.Update(ctx, func(tx store.Tx) error {
			var r approvalRecord
			if ok, err := getJSON(tx, bucketApprovals, id, &r); err != nil || !ok {
				if err != nil {
					return err
				}
				return fail(KindNotFound, CodeUnknownApproval, "no approval %s", id)
			}
			ev.Subject = r.Agent.DID
			// A sub-agent's request is its parent agent's, under the
			// tree of the root principal whose NeedApproval it enforces
			// (r.Agent.CreatedBy): that principal, an approver for others'
			// requests, does not decide those of its own tree either.
			if r.self(actor.DID) {
				return fail(KindForbidden, CodeSelfApproval, "the requester, or the principal whose tree it is, may not decide its own request")
			}
			switch r.status(now) {
			case ApprovalApproved, ApprovalDenied:
				return fail(KindConflict, CodeApprovalDecided, "the request was already %s by %s", r.Status, r.DecidedBy)
			case ApprovalExpired:
				return fail(KindConflict, CodeApprovalExpired, "the request expired at %s", r.ExpiresAt.Format(time.RFC3339))
			}
			r.DecidedBy, r.DecidedAt, r.Reason = actor.DID, &now, why
			r.Status = ApprovalDenied
			if approve {
				r.Status = ApprovalApproved
				if orphaned, err := is.orphaned(tx, r.Agent.CreatedBy, r.CreatedAt); err != nil || orphaned {
					return fail(KindConflict, CodePrincipalRemoved, "the principal was removed since the request")
				}
				if tx.Bucket(bucketAgents).Get([]byte(r.Agent.DID)) != nil {
					return fail(KindConflict, CodeAgentExists, "agent %s is already registered", r.Agent.DID)
				}
				a := r.Agent
				a.CreatedAt, a.RegistrationExpires, a.TTL = now, now.Add(time.Duration(r.Lifetime)), r.TTL
				if a.Parent != "" {
					// A sub-agent's parent must still be live, and the
					// lifetimes still within its own.
					if e := is.parentStillLive(tx, &a, now); e != nil {
						return e
					}
				}
				a.Approval = &vc.Approval{ID: r.ID, Approver: actor.DID, At: now, Reason: why}
				iss, err := is.issueTx(tx, signer, &a, r.Requester, now, audit.ActionAgentIssue)
				if err != nil {
					return err
				}
				r.Credential, r.CredentialID, r.ValidUntil = iss.Credential, iss.ID, iss.ValidUntil
			}
			if err := putJSON(tx, bucketApprovals, r.ID, &r); err != nil {
				return err
			}
			done := *ev
			done.Time, done.Decision, done.Scopes, done.Detail = now, audit.DecisionAllow, r.NeedApproval, "reason: "+why
			done.Credential = r.CredentialID
			if err := is.audit.AppendTx(tx, &done); err != nil {
				return err
			}
			out = r.view(actor.DID, now)
			v := r.view("", now)
			announceApproval(tx, r.ID)
			tx.OnCommit(func() { is.approvals.publish(ApprovalEvent{Type: v.Status, Approval: v}) })
			return nil
		})
		if err != nil {
			return wrapInternal(err, "decide approval")
		}
		return nil
	})
	return out, err
}

// parentStillLive re-checks, when a sub-agent's request is approved, that
// its parent is live and caps the sub-agent's lifetimes by the parent's
// current credential and registration.
func (is *Issuer) parentStillLive(tx store.Tx, a *agentRecord, now time.Time) *Error {
	var p agentRecord
	if ok, err := getJSON(tx, bucketAgents, a.Parent, &p); err != nil || !ok {
		return fail(KindConflict, CodeUnknownAgent, "the parent agent is not registered")
	}
	if e := is.parentLive(tx, &p, p.CurrentCredential, now); e != nil {
		e.Kind = KindConflict
		return e
	}
	var cr credentialRecord
	if ok, _ := getJSON(tx, bucketCredentials, p.CurrentCredential, &cr); !ok || cr.ValidUntil.Sub(now) < time.Minute {
		return fail(KindConflict, CodeLifetimeExceeds, "the parent's current credential has less than 1m left")
	}
	a.TTL = duration(min(time.Duration(a.TTL), cr.ValidUntil.Sub(now)))
	if a.RegistrationExpires.After(p.RegistrationExpires) {
		a.RegistrationExpires = p.RegistrationExpires
	}
	return nil
}

// GetApproval returns one approval to its requester, an admin or an
// approver; the requester gets the credential once approved. With wait >
// 0 (at most MaxApprovalWait) it long-polls: it returns as soon as the
// request is no longer pending, or when wait has passed.
func (is *Issuer) GetApproval(ctx context.Context, actor *Principal, id string, wait time.Duration) (*Approval, error) {
	wait = min(wait, MaxApprovalWait)
	deadline := time.NewTimer(max(wait, 0))
	defer deadline.Stop()
	for {
		changed := is.approvals.wait()
		a, err := is.getApproval(ctx, actor, id)
		if err != nil || a.Status != ApprovalPending || wait <= 0 {
			return a, err
		}
		expiry := time.NewTimer(max(a.ExpiresAt.Sub(is.cfg.Now()), 0))
		select {
		case <-changed:
		case <-expiry.C:
		case <-deadline.C:
			expiry.Stop()
			return a, nil
		case <-ctx.Done():
			expiry.Stop()
			return a, nil
		}
		expiry.Stop()
	}
}

func (is *Issuer) getApproval(ctx context.Context, actor *Principal, id string) (*Approval, error) {
	var out *Approval
	err := is.db.View(ctx, func(tx store.Tx) error {
		var r approvalRecord
		ok, err := getJSON(tx, bucketApprovals, id, &r)
		if err != nil {
			return err
		}
		if !ok || (r.Requester != actor.DID && !mayApprove(actor)) {
			return fail(KindNotFound, CodeUnknownApproval, "no approval %s", id)
		}
		out = r.view(actor.DID, is.cfg.Now())
		return nil
	})
	return out, err
}

// Approvals lists approvals, oldest first: every one for admins and
// approvers, the caller's own for others; status "" for any.
func (is *Issuer) Approvals(ctx context.Context, actor *Principal, status string) ([]Approval, error) {
	var out []Approval
	now := is.cfg.Now()
	err := is.db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucketApprovals).Range(nil, func(k, v []byte) error {
			var r approvalRecord
			if err := decodeJSON(tx, bucketApprovals, k, v, &r); err != nil {
				return err
			}
			if r.Requester != actor.DID && !mayApprove(actor) {
				return nil
			}
			a := r.view(actor.DID, now)
			if status == "" || a.Status == status {
				out = append(out, *a)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(x, y Approval) int { return x.CreatedAt.Compare(y.CreatedAt) })
	return out, err
}

// GetApprovalAsAgent is GetApproval for an agent that asked for a
// sub-agent: presentation envelops its credential, signed by its key, with
// aud = the issuer URL and htm/htu bound to this request. It sees only its
// own requests.
func (is *Issuer) GetApprovalAsAgent(ctx context.Context, presentation, method, url, id string, wait time.Duration) (*Approval, error) {
	res, err := is.refresher.Verify(ctx, presentation, verifier.Request{Method: method, URL: url, SourceIP: audit.SourceFrom(ctx)})
	if err != nil {
		var he *verifier.HolderError
		if errors.As(err, &he) {
			return nil, fromReason(err, KindUnauthenticated)
		}
		return nil, fromReason(err, KindForbidden)
	}
	return is.GetApproval(ctx, &Principal{DID: res.Agent}, id, wait)
}
