package issuer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
	"github.com/agentid/agentid/verifier"
)

// IssueRequest asks for a new agent's registration and first credential.
type IssueRequest struct {
	// Agent is the agent's did:key (or did:jwk).
	Agent string
	// Proof is a vp+jwt without credential signed by the agent's key, with
	// aud = the issuer URL and nonce = a nonce from Nonce.
	Proof     string
	Scopes    []string
	Audiences []string
	// TTL is each credential's lifetime (0: the default); Lifetime the
	// agent's registration (0: the default).
	TTL         time.Duration
	Lifetime    time.Duration
	Owner       string
	Purpose     string
	OnBehalfOf  string
	Constraints *vc.Constraints
	// Task names the job the agent works for (a sub-agent inherits its
	// parent's when it names none).
	Task string
	// MaxDepth sets how deep the new agent's tree may delegate (0: the
	// principal's own MaxDepth). Only an admin may set it above its own
	// ceiling's; a sub-agent request may not set it.
	MaxDepth int
}

// Issued is a signed credential and the agent's inventory record.
type Issued struct {
	Credential string
	ID         string
	ValidUntil time.Time
	Agent      *Agent
	// Pending, instead of all the above, says that the request waits for
	// an approver (see Approve).
	Pending *Approval
}

func (is *Issuer) checkIssue(actor *Principal, r *IssueRequest, now time.Time) (ttl time.Duration, reg time.Time, err *Error) {
	if actor.Role != RoleAdmin && actor.Role != RoleOrchestrator {
		return 0, reg, fail(KindForbidden, CodeForbidden, "role %s may not register agents", actor.Role)
	}
	if _, e := did.PublicKeyFromKey(r.Agent); e != nil {
		if _, e2 := did.PublicKeyFromJWK(r.Agent); e2 != nil {
			return 0, reg, badRequest("agent must be a valid did:key or did:jwk")
		}
	}
	if len(r.Scopes) == 0 || len(r.Scopes) > 64 {
		return 0, reg, badRequest("scopes: between 1 and 64 required")
	}
	seen := map[string]bool{}
	for _, s := range r.Scopes {
		if seen[s] {
			return 0, reg, badRequest("scope %q is repeated", s)
		}
		seen[s] = true
		if !validScope(s) {
			return 0, reg, badRequest("scope %q is not resource:action (wildcards are for ceilings only)", s)
		}
		if !(actor.Role == RoleAdmin && len(actor.Ceiling) == 0) && !AllowedBy(s, actor.Ceiling) {
			return 0, reg, fail(KindForbidden, CodeScopeExceedsCeiling, "scope %q is beyond the caller's ceiling", s)
		}
	}
	if len(r.Audiences) == 0 || len(r.Audiences) > 32 {
		return 0, reg, badRequest("audiences: between 1 and 32 required")
	}
	for _, a := range r.Audiences {
		if a == "" || len(a) > 2048 {
			return 0, reg, badRequest("audience must be a non-empty URL")
		}
		if len(actor.Audiences) > 0 && !slices.Contains(actor.Audiences, a) {
			return 0, reg, fail(KindForbidden, CodeAudienceNotAllowed, "audience %q is not allowed for the caller", a)
		}
	}
	if r.Owner == "" || r.Purpose == "" {
		return 0, reg, badRequest("owner and purpose are required")
	}
	if len(r.Owner) > 256 || len(r.Purpose) > 1024 || len(r.OnBehalfOf) > 256 || len(r.Task) > 256 {
		return 0, reg, badRequest("owner and onBehalfOf are limited to 256 bytes, purpose to 1024")
	}
	if slices.Contains(r.Audiences, "") || len(slices.Compact(slices.Sorted(slices.Values(r.Audiences)))) != len(r.Audiences) {
		return 0, reg, badRequest("audiences must be distinct")
	}
	ttl = r.TTL
	bound := is.cfg.MaxTTL
	if actor.MaxTTL > 0 && actor.MaxTTL < bound {
		bound = actor.MaxTTL
	}
	if ttl == 0 {
		ttl = min(is.cfg.DefaultTTL, bound)
	}
	if ttl < time.Minute || ttl > bound {
		return 0, reg, fail(KindInvalid, CodeLifetimeExceeds, "ttl must be within [1m, %v]", bound)
	}
	life := r.Lifetime
	if life == 0 {
		life = is.cfg.DefaultRegistration
	}
	if life < ttl || life > is.cfg.MaxRegistration {
		return 0, reg, fail(KindInvalid, CodeLifetimeExceeds, "lifetime must be within [ttl, %v]", is.cfg.MaxRegistration)
	}
	return ttl, now.Add(life), nil
}

// Issue registers an agent and signs its first credential. The proof of
// control, the ceiling and every lifetime bound are checked; the agent
// record, the credential record, the status indexes and the audit event are
// committed in one durable transaction before the credential is returned.
func (is *Issuer) Issue(ctx context.Context, actor *Principal, r IssueRequest) (*Issued, error) {
	var out *Issued
	ev := is.event(actor, audit.ActionAgentIssue)
	ev.Subject = r.Agent
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		now := is.cfg.Now().UTC().Truncate(time.Second)
		ttl, reg, e := is.checkIssue(actor, &r, now)
		if e != nil {
			return e
		}
		maxDepth, e := rootMaxDepth(actor, &r)
		if e != nil {
			return e
		}
		proof, err := is.proofOfControl(ctx, r.Proof, r.Agent, "the agent's key")
		if err != nil {
			return err
		}
		// A proof of control names the principal it was made for, so that
		// a leaked proof cannot register the agent through another one.
		if proof.For != actor.DID {
			if proof.For == "" {
				return fail(KindInvalid, CodeProofPrincipal, "proof of control does not name the principal it is for (claim \"for\")")
			}
			return fail(KindInvalid, CodeProofPrincipal, "proof of control was made for another principal")
		}
		a := &agentRecord{DID: r.Agent, Owner: r.Owner, Purpose: r.Purpose, Scopes: r.Scopes, Audiences: r.Audiences,
			OnBehalfOf: r.OnBehalfOf, Constraints: r.Constraints, TTL: duration(ttl), CreatedBy: actor.DID,
			CreatedAt: now, RegistrationExpires: reg, MaxDepth: maxDepth, Task: r.Task}
		// Validate a draft before taking the write lock, so that a request
		// the schema refuses (a bad constraint, say) is a clear refusal and
		// never rolls back a batch of other callers' issuances. The signed
		// credential is validated again in the transaction.
		if err := is.checkDraft(is.credential(a, now, now.Add(ttl), draftStatus, draftStatus), now); err != nil {
			return err
		}
		if need := needsApproval(actor, r.Scopes); len(need) > 0 {
			out, err = is.requestApproval(ctx, actor, ev, a, ttl, reg.Sub(now), need, now)
			return err
		}
		var rc *recordedCredential
		err = is.db.Batch(ctx, func(tx store.Tx) error {
			if tx.Bucket(bucketAgents).Get([]byte(a.DID)) != nil {
				return fail(KindConflict, CodeAgentExists, "agent %s is already registered", a.DID)
			}
			// The signing key as of this transaction (read in it, never
			// by opening a second one inside it).
			signer, err := is.signerTx(tx)
			if err != nil {
				return err
			}
			rec := *a
			rec.Credentials = nil
			rc, err = is.recordTx(tx, signer, &rec, actor.DID, now, audit.ActionAgentIssue)
			return err
		})
		if err != nil {
			return wrapInternal(err, "issue")
		}
		out, err = rc.sign(is)
		return err
	})
	return out, err
}

// issueTx allocates status entries, signs a credential for a, and writes
// the agent, credential and audit records in tx. Callers that return the
// credential only after the commit use recordTx, and sign after it.
func (is *Issuer) issueTx(tx store.Tx, signer jws.Signer, a *agentRecord, actor string, now time.Time, action string) (*Issued, error) {
	rc, err := is.recordTx(tx, signer, a, actor, now, action)
	if err != nil {
		return nil, err
	}
	tok, err := is.signPayload(signer, rc.payload)
	if err != nil {
		return nil, err
	}
	out := *rc.out
	out.Credential = tok
	return &out, nil
}

// recordTx allocates status entries, encodes a credential for a, and
// writes the agent, credential and audit records in tx; the credential is
// not signed yet (see recordedCredential).
func (is *Issuer) recordTx(tx store.Tx, signer jws.Signer, a *agentRecord, actor string, now time.Time, action string) (*recordedCredential, error) {
	until := now.Add(time.Duration(a.TTL))
	if until.After(a.RegistrationExpires) {
		until = a.RegistrationExpires
	}
	rev, err := is.status.AllocateTx(tx, statuslist.Revocation)
	if err != nil {
		return nil, fmt.Errorf("allocate revocation index: %w", err)
	}
	sus, err := is.status.AllocateTx(tx, statuslist.Suspension)
	if err != nil {
		return nil, fmt.Errorf("allocate suspension index: %w", err)
	}
	c := is.credential(a, now, until, rev, sus)
	payload, err := vc.EncodeCredential(c, now)
	if err != nil {
		return nil, err
	}
	cr := credentialRecord{ID: c.ID, Agent: a.DID, IssuedBy: actor, IssuedAt: now, ValidUntil: until, Revocation: rev, Suspension: sus}
	a.CurrentCredential, a.CredentialExpires = c.ID, until
	// The agent's credentials go to the per-agent index, never into the
	// agent record, which keeps a constant size. A record of an earlier
	// release moves its list to the index once.
	if len(a.Credentials) > 0 {
		for i, id := range a.Credentials {
			if err := putAgentCredential(tx, a.DID, id, uint64(i+1)); err != nil {
				return nil, err
			}
		}
		a.Issued, a.Credentials = len(a.Credentials), nil
	}
	a.Issued++
	if err := putAgentCredential(tx, a.DID, c.ID, uint64(a.Issued)); err != nil {
		return nil, err
	}
	if err := putJSON(tx, bucketCredentials, c.ID, cr); err != nil {
		return nil, err
	}
	if err := putJSON(tx, bucketAgents, a.DID, a); err != nil {
		return nil, err
	}
	if err := is.audit.AppendTx(tx, &audit.Event{Time: now, Actor: actor, Action: action, Subject: a.DID,
		Credential: c.ID, Resource: joinAud(a.Audiences), Scopes: a.Scopes, Decision: audit.DecisionAllow,
		Delegation: auditChain(a.Delegation)}); err != nil {
		return nil, err
	}
	view := a.agent()
	view.Status = StatusActive
	view.Credentials = nil // listed by Agent, not here: a refresh costs the same every time
	return &recordedCredential{payload: payload, signer: signer, out: &Issued{ID: c.ID, ValidUntil: until, Agent: view}}, nil
}

// recordedCredential is a credential whose records and audit event a
// transaction wrote (recordTx), to be signed once that transaction has
// committed (sign), by callers that checked a draft of it against the
// schema before the transaction (Issue, IssueAsAgent). A write transaction runs its Batch callers one after
// another on one goroutine, and the schema check and the signature are
// the costliest steps of an issuance: done after the commit, they run on
// every core at once. Nothing leaves before the commit either way; a
// failure after it (a payload the schema refuses, which the draft checked
// before the transaction rules out, or a signer error) returns no
// credential, and leaves a recorded credential no one holds, as a crash
// between the commit and the response does.
type recordedCredential struct {
	payload []byte
	signer  jws.Signer
	out     *Issued
}

// sign checks the recorded credential against the schema and signs it. A
// failure here is an internal error, never a refusal: the issuance is
// committed and audited.
func (rc *recordedCredential) sign(is *Issuer) (*Issued, error) {
	tok, err := is.signPayload(rc.signer, rc.payload)
	if err != nil {
		return nil, fmt.Errorf("issuer: credential %s recorded but not signed: %s", rc.out.ID, err.Error())
	}
	out := *rc.out
	out.Credential = tok
	return &out, nil
}

// signPayload checks an encoded credential against the schema and signs it.
func (is *Issuer) signPayload(signer jws.Signer, payload []byte) (string, error) {
	if err := is.schema.ValidateCredential(payload); err != nil {
		return "", fail(KindInvalid, Code(reason.SchemaInvalid), "the credential would not match its schema: %v", err)
	}
	return vc.SignCredentialPayload(signer, is.did, payload)
}

// draftStatus stands in for allocated status entries when a draft
// credential is checked against the schema.
var draftStatus = vc.StatusEntry{Type: "BitstringStatusListEntry", StatusPurpose: "revocation", StatusListIndex: "0", StatusListCredential: "https://draft.invalid/status/revocation/0"}

// credential builds the AgentCredential for agent a.
func (is *Issuer) credential(a *agentRecord, now, until time.Time, rev, sus vc.StatusEntry) *vc.Credential {
	c := &vc.Credential{
		Context:   []string{vc.ContextV2, vc.ContextAgentID},
		ID:        "urn:uuid:" + uuid.NewString(),
		Type:      []string{vc.TypeVerifiableCredential, vc.TypeAgentCredential},
		Issuer:    vc.Issuer{ID: is.did},
		ValidFrom: &now, ValidUntil: &until,
		CredentialSubject: vc.Subject{ID: a.DID, Scopes: a.Scopes, Audiences: a.Audiences, Owner: a.Owner,
			Purpose: a.Purpose, DelegatedBy: a.CreatedBy, OnBehalfOf: a.OnBehalfOf, Constraints: a.Constraints},
		CredentialStatus: statusEntries(a, rev, sus),
		CredentialSchema: &vc.Schema{ID: is.cfg.URL + "/schemas/agent-credential-v1.schema.json", Type: "JsonSchema"},
	}
	c.CredentialSubject.Delegation, c.CredentialSubject.Task, c.CredentialSubject.Approval = a.Delegation, a.Task, a.Approval
	if c.CredentialSubject.DelegatedBy == "system" {
		c.CredentialSubject.DelegatedBy = ""
	}
	return c
}

func joinAud(a []string) string {
	if len(a) == 1 {
		return a[0]
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// Refresh verifies an agent's presentation of its current credential
// (aud = issuer URL, htm/htu bound to the refresh request) through the
// same verifier resource APIs use, and signs a new credential with the
// same grants, unless the credential is revoked or suspended, the agent
// retired, or its registration over.
func (is *Issuer) Refresh(ctx context.Context, presentation, method, url string) (*Issued, error) {
	var out *Issued
	err := is.guard(ctx, &audit.Event{Action: audit.ActionCredentialRefresh}, func(ev *audit.Event) error {
		now := is.cfg.Now().UTC().Truncate(time.Second)
		res, err := is.refresher.Verify(ctx, presentation, verifier.Request{Method: method, URL: url})
		if err != nil {
			// The caller is known once the presentation's signature
			// verified: a refusal of the presentation itself is a failed
			// authentication (401); one of the credential it carries says
			// the credential no longer allows a refresh (403), or that the
			// request carries none or several (400).
			var he *verifier.HolderError
			if errors.As(err, &he) {
				if holder := holderOf(presentation); holder != "" {
					ev.Actor, ev.Subject = holder, holder
				}
				return fromReason(err, KindUnauthenticated)
			}
			pp, _ := vc.ParsePresentation(presentation)
			holder := pp.Presentation.HolderDID()
			ev.Actor, ev.Subject = holder, holder
			if len(pp.Presentation.VerifiableCredential) != 1 {
				return fail(KindInvalid, Code(reason.Malformed), "refresh needs exactly one enveloped credential")
			}
			return fromReason(err, KindForbidden)
		}
		holder := res.Agent
		ev.Actor, ev.Subject = holder, holder
		old := res.Credential
		// No grace for the credential itself: the verifier allows clock
		// skew, the issuer refreshes only what has not expired.
		if err := old.CheckValidity(is.cfg.Now(), 0); err != nil {
			return fromReason(err, KindForbidden)
		}
		ev.Credential = old.ID
		err = is.db.Batch(ctx, func(tx store.Tx) error {
			var a agentRecord
			if ok, err := getJSON(tx, bucketAgents, holder, &a); err != nil || !ok {
				if err != nil {
					return err
				}
				return fail(KindForbidden, CodeUnknownAgent, "agent is not registered")
			}
			if a.Retired {
				return fail(KindForbidden, CodeAgentRetired, "agent is retired")
			}
			if orphaned, err := is.orphaned(tx, a.CreatedBy, a.CreatedAt); err != nil {
				return err
			} else if orphaned {
				return fail(KindForbidden, CodePrincipalRemoved, "the principal that registered the agent was removed")
			}
			if !now.Before(a.RegistrationExpires) {
				return fail(KindForbidden, CodeRegistrationEnded, "agent's registration ended at %s", a.RegistrationExpires.Format(time.RFC3339))
			}
			// Only the current credential refreshes: an older one, still
			// unexpired, must not outlive a revocation of its successor.
			if old.ID != a.CurrentCredential {
				return fail(KindForbidden, CodeUnknownCredential, "only the agent's current credential can be refreshed")
			}
			// Re-read its status inside the transaction: a revocation that
			// committed after the check above must win.
			var cr credentialRecord
			if ok, err := getJSON(tx, bucketCredentials, old.ID, &cr); err != nil || !ok {
				if err != nil {
					return err
				}
				return fail(KindForbidden, CodeUnknownCredential, "no record of this credential")
			}
			if cr.Revoked {
				return fail(KindForbidden, Code(reason.Revoked), "credential is revoked")
			}
			if cr.Suspended {
				return fail(KindForbidden, Code(reason.Suspended), "credential is suspended")
			}
			tat, wait := is.refreshAllowed(a.RefreshTAT, now)
			if wait > 0 {
				e := fail(KindRateLimited, CodeRateLimited, "too many refreshes of this agent; retry after %s (%s)",
					wait, now.Add(wait).Format(time.RFC3339))
				e.RetryAfter = wait
				return e
			}
			a.RefreshTAT = &tat
			a.LastSeen = &now
			// Signed in the transaction: no draft of the new credential is
			// checked before it (the agent's record is read here), so a
			// credential the schema refuses must roll the refresh back,
			// or the agent's current credential would be one it never got.
			signer, err := is.signerTx(tx)
			if err != nil {
				return err
			}
			iss, err := is.issueTx(tx, signer, &a, holder, now, audit.ActionCredentialRefresh)
			out = iss
			return err
		})
		if err != nil {
			return wrapInternal(err, "refresh")
		}
		return nil
	})
	return out, err
}

// holderOf returns the holder a presentation claims, for the audit trail
// of a refusal, only if its signature verifies by that holder's own key
// (did:key and did:jwk resolve locally).
func holderOf(presentation string) string {
	pp, err := vc.ParsePresentation(presentation)
	if err != nil {
		return ""
	}
	if pp.Verify(context.Background(), did.NewMultiResolver(nil)) != nil {
		return ""
	}
	return pp.Presentation.HolderDID()
}

// StatusAction is a change to a credential's status.
type StatusAction string

// Status actions.
const (
	Revoke    StatusAction = "revoke"
	Suspend   StatusAction = "suspend"
	Reinstate StatusAction = "reinstate"
)

func (a StatusAction) auditAction() string {
	switch a {
	case Revoke:
		return audit.ActionCredentialRevoke
	case Suspend:
		return audit.ActionCredentialSuspend
	}
	return audit.ActionCredentialReinstate
}

// SetStatus revokes, suspends or reinstates a credential. Admins may change
// any credential, orchestrators only those of agents they created.
// Revocation is final.
func (is *Issuer) SetStatus(ctx context.Context, actor *Principal, credID string, action StatusAction) (*Credential, error) {
	var out *Credential
	ev := is.event(actor, action.auditAction())
	ev.Credential = credID
	if action != Revoke && action != Suspend && action != Reinstate {
		ev.Action = "credential." + string(action)
	}
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		if action != Revoke && action != Suspend && action != Reinstate {
			return badRequest("unknown status action %q", action)
		}
		err := is.db.Update(ctx, func(tx store.Tx) error {
			var c credentialRecord
			if ok, err := getJSON(tx, bucketCredentials, credID, &c); err != nil || !ok {
				if err != nil {
					return err
				}
				return fail(KindNotFound, CodeUnknownCredential, "no credential %s", credID)
			}
			if err := is.mayManage(tx, actor, credID, c.Agent); err != nil {
				return err
			}
			switch action {
			case Revoke:
				if err := is.status.SetTx(tx, c.Revocation, true); err != nil {
					return err
				}
				c.Revoked = true
			case Suspend:
				if c.Revoked {
					return fail(KindConflict, CodeIrreversible, "credential is revoked")
				}
				if err := is.status.SetTx(tx, c.Suspension, true); err != nil {
					return err
				}
				// A suspension records the highest role that imposed
				// it: an orchestrator suspending again does not lower
				// an admin's hold.
				if !c.Suspended || roleRank(actor.Role) >= roleRank(c.SuspendedRole) {
					c.SuspendedBy, c.SuspendedRole = actor.DID, actor.Role
				}
				c.Suspended = true
			case Reinstate:
				if c.Revoked {
					return fail(KindConflict, CodeIrreversible, "a revoked credential cannot be reinstated")
				}
				// Lifting a suspension takes the role that imposed it,
				// or a higher one. A suspension of an earlier release
				// records no role: only an admin lifts it.
				if c.Suspended && roleRank(actor.Role) < roleRank(c.SuspendedRole) {
					return fail(KindForbidden, CodeForbidden, "the suspension was imposed by an admin; only an admin can lift it")
				}
				if err := is.status.SetTx(tx, c.Suspension, false); err != nil {
					return err
				}
				c.Suspended, c.SuspendedBy, c.SuspendedRole = false, "", ""
			}
			if err := is.agentLevelTx(tx, c.Agent, c.ID, action); err != nil {
				return err
			}
			if err := putJSON(tx, bucketCredentials, c.ID, c); err != nil {
				return err
			}
			out = c.credential()
			done := *ev
			done.Time, done.Subject, done.Decision = is.cfg.Now().UTC(), c.Agent, audit.DecisionAllow
			return is.audit.AppendTx(tx, &done)
		})
		if err != nil {
			return wrapInternal(err, string(action))
		}
		return nil
	})
	return out, err
}

// mayManage refuses credential credID, of agent agentDID, to an actor
// that may not change it: admins change any, others only those of agents
// they created. Another's credential is answered exactly as one that does
// not exist (as visibleAgent answers another's agent), so that a caller
// learns nothing of credentials it may not see.
func (is *Issuer) mayManage(tx store.Tx, actor *Principal, credID, agentDID string) error {
	if actor.Role == RoleAdmin {
		return nil
	}
	var a agentRecord
	ok, err := getJSON(tx, bucketAgents, agentDID, &a)
	if err != nil {
		return err
	}
	if !ok || a.CreatedBy != actor.DID {
		return fail(KindNotFound, CodeUnknownCredential, "no credential %s", credID)
	}
	return nil
}

// Retire revokes every credential of an agent and refuses it new ones.
func (is *Issuer) Retire(ctx context.Context, actor *Principal, agentDID string) (*Agent, error) {
	var out *Agent
	ev := is.event(actor, audit.ActionAgentRetire)
	ev.Subject = agentDID
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		now := is.cfg.Now().UTC().Truncate(time.Second)
		err := is.db.Update(ctx, func(tx store.Tx) error {
			var a agentRecord
			if err := visibleAgent(tx, actor, agentDID, &a); err != nil {
				return err
			}
			if a.Retired {
				return fail(KindConflict, CodeAgentRetired, "agent is already retired")
			}
			ids, err := is.retireTx(tx, &a, now)
			if err != nil {
				return err
			}
			out = a.agent()
			out.Credentials = ids
			done := *ev
			done.Time, done.Decision, done.Detail = now, audit.DecisionAllow, fmt.Sprintf("%d credentials revoked", len(ids))
			return is.audit.AppendTx(tx, &done)
		})
		if err != nil {
			return wrapInternal(err, "retire")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Status = StatusRetired
	return out, nil
}

// retireTx revokes every credential of a, sets its agent-level revocation
// entry (which stops its descendants) and marks it retired, in tx. It
// returns the agent's credentials.
func (is *Issuer) retireTx(tx store.Tx, a *agentRecord, now time.Time) ([]string, error) {
	ids, err := agentCredentials(tx, a)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		var c credentialRecord
		if ok, err := getJSON(tx, bucketCredentials, id, &c); err != nil || !ok {
			return nil, fmt.Errorf("credential record %s missing: %v", id, err)
		}
		if c.Revoked {
			continue
		}
		if err := is.status.SetTx(tx, c.Revocation, true); err != nil {
			return nil, err
		}
		c.Revoked = true
		if err := putJSON(tx, bucketCredentials, c.ID, c); err != nil {
			return nil, err
		}
	}
	if a.AgentRevocation != nil {
		if err := is.status.SetTx(tx, *a.AgentRevocation, true); err != nil {
			return nil, err
		}
	}
	a.Retired, a.RetiredAt = true, &now
	return ids, putJSON(tx, bucketAgents, a.DID, a)
}

// AgentFilter selects inventory records.
type AgentFilter struct {
	// CreatedBy limits to agents one principal created.
	CreatedBy string
	// Dormant selects agents not seen for DormantFor (default 7 days).
	Dormant    bool
	DormantFor time.Duration
	// Expired selects agents whose current credential has expired and that
	// are not retired.
	Expired bool
	// Status selects one computed status.
	Status string
}

// Inventory page bounds of AgentPage.
const (
	DefaultAgentPage = 500
	MaxAgentPage     = 5000
)

// AgentPage lists one page of the inventory, in the order of the agents'
// DIDs (the store's key order): at most limit agents (DefaultAgentPage
// when limit <= 0, MaxAgentPage at most) whose DID sorts after cursor
// ("" for the first page). next is the cursor of the following page, ""
// on the last. Only the page is held in memory, whatever the size of the
// inventory; the filter applies as in Agents (a selective filter may walk
// many records to fill a page).
func (is *Issuer) AgentPage(ctx context.Context, actor *Principal, f AgentFilter, cursor string, limit int) (agents []Agent, next string, err error) {
	if limit <= 0 {
		limit = DefaultAgentPage
	}
	limit = min(limit, MaxAgentPage)
	var from []byte
	if cursor != "" {
		from = append([]byte(cursor), 0) // the first key after cursor
	}
	out := make([]Agent, 0, min(limit, 64))
	err = is.agents(ctx, actor, f, from, func(a *Agent) error {
		if len(out) == limit {
			next = out[len(out)-1].DID // there is one more
			return store.Stop
		}
		out = append(out, *a)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Agents lists the whole inventory, sorted by creation time. Orchestrators
// see only the agents they created. It holds every selected agent in
// memory: serve large inventories with AgentPage.
func (is *Issuer) Agents(ctx context.Context, actor *Principal, f AgentFilter) ([]Agent, error) {
	var out []Agent
	err := is.agents(ctx, actor, f, nil, func(a *Agent) error {
		out = append(out, *a)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// agents calls fn with each agent actor may see that f selects, from the
// key from on, in key order, until fn returns an error (store.Stop ends
// the walk without one).
func (is *Issuer) agents(ctx context.Context, actor *Principal, f AgentFilter, from []byte, fn func(*Agent) error) error {
	if actor.Role != RoleAdmin {
		f.CreatedBy = actor.DID
	}
	now := is.cfg.Now()
	if f.DormantFor == 0 {
		f.DormantFor = 7 * 24 * time.Hour
	}
	return is.db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucketAgents).Range(from, func(k, v []byte) error {
			var r agentRecord
			if err := decodeJSON(tx, bucketAgents, k, v, &r); err != nil {
				return err
			}
			a := r.agent()
			if f.CreatedBy != "" && a.CreatedBy != f.CreatedBy {
				return nil
			}
			is.fill(tx, a, now)
			if f.Status != "" && a.Status != f.Status {
				return nil
			}
			if f.Expired && (a.Retired || now.Before(a.CredentialExpires)) {
				return nil
			}
			if f.Dormant {
				last := a.CreatedAt
				if a.LastSeen != nil {
					last = *a.LastSeen
				}
				if a.Retired || now.Sub(last) < f.DormantFor {
					return nil
				}
			}
			return fn(a)
		})
	})
}

// Agent returns one inventory record.
func (is *Issuer) Agent(ctx context.Context, actor *Principal, agentDID string) (*Agent, error) {
	var a *Agent
	err := is.db.View(ctx, func(tx store.Tx) error {
		var r agentRecord
		if err := visibleAgent(tx, actor, agentDID, &r); err != nil {
			return err
		}
		a = r.agent()
		is.fill(tx, a, is.cfg.Now())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// fill computes Status and merges the in-memory last-seen time.
func (is *Issuer) fill(tx store.Tx, a *Agent, now time.Time) {
	is.seenMu.Lock()
	if t, ok := is.seen[a.DID]; ok && (a.LastSeen == nil || t.After(*a.LastSeen)) {
		a.LastSeen = &t
	}
	is.seenMu.Unlock()
	if ids, err := agentCredentials(tx, &agentRecord{DID: a.DID, Credentials: a.Credentials}); err == nil {
		a.Credentials = ids
	}
	var c credentialRecord
	ok, _ := getJSON(tx, bucketCredentials, a.CurrentCredential, &c)
	orphaned, oerr := is.orphaned(tx, a.CreatedBy, a.CreatedAt)
	switch {
	case a.Retired:
		a.Status = StatusRetired
	case ok && c.Revoked:
		a.Status = StatusRevoked
	case orphaned || oerr != nil:
		a.Status = StatusOrphaned
	case ok && c.Suspended:
		a.Status = StatusSuspended
	case !now.Before(a.CredentialExpires):
		a.Status = StatusExpired
	default:
		a.Status = StatusActive
	}
	if a.Parent != "" && a.Status != StatusRetired && a.Status != StatusRevoked {
		// An ancestor's revocation outranks the agent's own state but its
		// retirement or revocation; an ancestor's suspension outranks only
		// active and expired, as the agent's own suspension does.
		if st, anc := ancestorStatus(tx, a.Parent); st == StatusRevoked || (st == StatusSuspended && (a.Status == StatusActive || a.Status == StatusExpired)) {
			a.Status, a.Ancestor = st, anc
		}
	}
}

// Seen notes that an agent was verified at t (by the verifier service in
// this process). It is kept in memory and shown by the inventory; it is
// not part of the durable record.
func (is *Issuer) Seen(agent string, t time.Time) {
	is.seenMu.Lock()
	defer is.seenMu.Unlock()
	if len(is.seen) < 1_000_000 {
		is.seen[agent] = t.UTC().Truncate(time.Second)
	}
}

// AgentStates returns what the audit summary needs of the inventory.
func (is *Issuer) AgentStates(ctx context.Context) ([]audit.AgentState, error) {
	all, err := is.Agents(ctx, &Principal{Role: RoleAdmin}, AgentFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]audit.AgentState, len(all))
	for i, a := range all {
		out[i] = audit.AgentState{DID: a.DID, ExpiresAt: a.CredentialExpires, Retired: a.Retired}
		if a.LastSeen != nil {
			out[i].LastSeen = *a.LastSeen
		}
	}
	return out, nil
}

// roleRank orders roles for suspensions: a suspension is lifted by its
// role or a higher one. An unknown or empty role (a suspension recorded by
// an earlier release) ranks as an admin's.
func roleRank(r Role) int {
	if r == RoleOrchestrator {
		return 1
	}
	return 2
}

// orphaned reports whether the principal that created an agent at
// createdAt is gone: removed, or removed and registered again since (a
// re-registration does not adopt the agents of the earlier one).
func (is *Issuer) orphaned(tx store.Tx, createdBy string, createdAt time.Time) (bool, error) {
	var p principalRecord
	ok, err := getJSON(tx, bucketPrincipals, createdBy, &p)
	if err != nil {
		return false, err
	}
	return !ok || p.CreatedAt.After(createdAt), nil
}

// refreshAllowed is the per-agent refresh limiter, a GCRA (a token bucket
// kept as one time): each refresh moves the agent's theoretical arrival
// time tat one RefreshInterval on, from now at the earliest; a refresh is
// allowed while tat stays within RefreshBurst intervals of now. It returns
// the new tat, or the wait before a refresh is allowed.
func (is *Issuer) refreshAllowed(tat *time.Time, now time.Time) (time.Time, time.Duration) {
	next := now
	if tat != nil && tat.After(now) {
		next = *tat
	}
	next = next.Add(is.cfg.RefreshInterval)
	if over := next.Sub(now) - time.Duration(is.cfg.RefreshBurst)*is.cfg.RefreshInterval; over > 0 {
		return time.Time{}, over
	}
	return next, 0
}

// agentCredentialKey is the index key of one of an agent's credentials.
func agentCredentialKey(agentDID, credID string) []byte {
	return []byte(agentDID + "\x00" + credID)
}

func putAgentCredential(tx store.Tx, agentDID, credID string, seq uint64) error {
	return tx.Bucket(bucketAgentCredentials).Put(agentCredentialKey(agentDID, credID), binary.BigEndian.AppendUint64(nil, seq))
}

// agentCredentials lists an agent's credentials, oldest first: those an
// old record still lists, then those of the index.
func agentCredentials(tx store.Tx, a *agentRecord) ([]string, error) {
	type entry struct {
		id  string
		seq uint64
	}
	var idx []entry
	prefix := []byte(a.DID + "\x00")
	err := tx.Bucket(bucketAgentCredentials).Range(prefix, func(k, v []byte) error {
		if !bytes.HasPrefix(k, prefix) {
			return store.Stop
		}
		if len(v) != 8 {
			return fmt.Errorf("issuer: corrupt credential index entry %q", k)
		}
		idx = append(idx, entry{string(k[len(prefix):]), binary.BigEndian.Uint64(v)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(idx, func(i, j int) bool { return idx[i].seq < idx[j].seq })
	out := slices.Clone(a.Credentials)
	for _, e := range idx {
		if !slices.Contains(a.Credentials, e.id) {
			out = append(out, e.id)
		}
	}
	return out, nil
}
