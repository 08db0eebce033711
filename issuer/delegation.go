package issuer

// Delegation: an agent holding a live credential asks for a credential for
// a sub-agent. See docs/delegation.md for the design of the status entries
// that make a revocation of any ancestor stop every descendant offline.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
)

// MaxDelegationDepth bounds every tree's depth, whatever a principal's
// MaxDepth says: each level adds two status entries to every credential
// below it.
const MaxDelegationDepth = 8

// Delegation refusal codes. Each names the term of the parent's grant the
// request exceeded; scopes, audiences and lifetimes use the codes a
// principal's ceiling uses (CodeScopeExceedsCeiling, CodeAudienceNotAllowed,
// CodeLifetimeExceeds).
const (
	// CodeConstraintLooser: a constraint of the request is looser than the
	// parent's (a higher rate, a network or time window outside the
	// parent's, another time zone).
	CodeConstraintLooser Code = "constraint_looser"
	// CodeDepthExceeded: the sub-agent would be deeper than the root
	// principal's (or root agent's) maximum delegation depth.
	CodeDepthExceeded Code = "delegation_depth_exceeded"
	// CodeDelegationCycle: the sub-agent's key is the parent's or one of
	// its ancestors'.
	CodeDelegationCycle Code = "delegation_cycle"
	// CodeOnBehalfOf: a sub-agent request names another onBehalfOf than
	// the one it inherits.
	CodeOnBehalfOf Code = "on_behalf_of_mismatch"
)

// statusEntries is a credential's credentialStatus: its own revocation and
// suspension entries, then the agent-level pair of each ancestor, root
// first. An agent's own agent-level pair is not in its own credentials
// (their own entries say as much); it is allocated when the agent first
// delegates. Verifiers rely on this order only to name the ancestor in a
// refusal; every entry is checked whatever the order.
func statusEntries(a *agentRecord, rev, sus vc.StatusEntry) []vc.StatusEntry {
	if len(a.AncestorStatus) == 0 {
		return []vc.StatusEntry{rev, sus}
	}
	out := make([]vc.StatusEntry, 0, 2+len(a.AncestorStatus))
	out = append(out, rev, sus)
	return append(out, a.AncestorStatus...)
}

// rootMaxDepth checks the MaxDepth a principal asks for a new root agent
// and returns the depth its tree may reach.
func rootMaxDepth(actor *Principal, r *IssueRequest) (int, *Error) {
	if r.MaxDepth < 0 || r.MaxDepth > MaxDelegationDepth {
		return 0, badRequest("maxDepth must be within [0, %d]", MaxDelegationDepth)
	}
	if r.MaxDepth == 0 {
		return actor.MaxDepth, nil
	}
	if actor.Role != RoleAdmin && r.MaxDepth > actor.MaxDepth {
		return 0, fail(KindForbidden, CodeDepthExceeded, "maxDepth %d is beyond the caller's maximum delegation depth %d", r.MaxDepth, actor.MaxDepth)
	}
	return r.MaxDepth, nil
}

// IssueAsAgent registers a sub-agent of the agent that signed presentation
// and signs its first credential. The presentation envelops the parent's
// current credential, is signed by the parent's key with aud = the issuer
// URL, htm/htu bound to this request and htd to its body, and is verified
// by the same verifier resource APIs use (so a revoked, suspended or
// expired parent, or one whose ancestor is, is refused with that reason).
// The grant must attenuate the parent's: scopes and audiences subsets of
// its, the lifetime within its credential and registration, constraints no
// looser, and the depth within the tree's maximum. r.Proof is a proof of
// control by the sub-agent's key made for the parent (claim "for" = the
// parent's DID). The parent's constraints apply to this request as to any
// other: its source address is taken from ctx (audit.WithSource). The
// sub-agent belongs to the root principal's tree: its
// inventory record names that principal as its creator and the parent.
func (is *Issuer) IssueAsAgent(ctx context.Context, presentation, method, url string, body []byte, r IssueRequest) (*Issued, error) {
	var out *Issued
	ev := &audit.Event{Action: audit.ActionAgentIssue, Subject: r.Agent}
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		now := is.cfg.Now().UTC().Truncate(time.Second)
		// The parent's constraints hold for its requests to the issuer
		// too: its source address is the request's (audit.WithSource).
		res, err := is.refresher.Verify(ctx, presentation, verifier.Request{Method: method, URL: url, SourceIP: audit.SourceFrom(ctx)})
		if err != nil {
			var he *verifier.HolderError
			if errors.As(err, &he) {
				ev.Actor = holderOf(presentation)
				return fromReason(err, KindUnauthenticated)
			}
			pp, _ := vc.ParsePresentation(presentation)
			ev.Actor = pp.Presentation.HolderDID()
			if len(pp.Presentation.VerifiableCredential) != 1 {
				return fail(KindInvalid, Code(reason.Malformed), "a sub-agent request carries exactly one enveloped credential")
			}
			return fromReason(err, KindForbidden)
		}
		parentDID := res.Agent
		ev.Actor = parentDID
		pc := res.Credential
		ev.Delegation = auditChain(pc.CredentialSubject.Delegation)
		// The body is the grant: it must be the one the parent signed for.
		if htd := res.Presentation.Htd; htd == "" || subtle.ConstantTimeCompare([]byte(htd), []byte(BodyDigest(body))) != 1 {
			return fail(KindUnauthenticated, Code(reason.RequestMismatch), "a sub-agent request's presentation binds its body (htd)")
		}
		if err := pc.CheckValidity(is.cfg.Now(), 0); err != nil {
			return fromReason(err, KindForbidden)
		}
		if r.MaxDepth != 0 {
			return badRequest("maxDepth is set by the root principal, not by a sub-agent request")
		}
		if e := checkShape(&r); e != nil {
			return e
		}
		proof, err := is.proofOfControl(ctx, r.Proof, r.Agent, "the sub-agent's key")
		if err != nil {
			return err
		}
		if proof.For != parentDID {
			return fail(KindInvalid, CodeProofPrincipal, "proof of control was not made for the parent agent (claim \"for\")")
		}
		// As Issue does: a request the schema refuses (a bad constraint)
		// is refused before the write lock, never rolling back a batch.
		// The grant's own terms are checked first so that their refusals
		// name them (and again, in the transaction, with the rest).
		if e := grantWithin(&pc.CredentialSubject, &r); e != nil {
			return e
		}
		// The draft carries what the child's credential will take from the
		// parent's (the delegation chain, onBehalfOf, the task), since the
		// credential is checked again only after the commit.
		task := r.Task
		if task == "" {
			task = pc.CredentialSubject.Task
		}
		draft := is.credential(&agentRecord{DID: r.Agent, Owner: r.Owner, Purpose: r.Purpose, Scopes: r.Scopes,
			Audiences: r.Audiences, Constraints: r.Constraints, Task: task, CreatedBy: pc.CredentialSubject.DelegatedBy,
			OnBehalfOf: pc.CredentialSubject.OnBehalfOf,
			Delegation: append(slices.Clone(pc.CredentialSubject.Delegation), vc.DelegationLink{Credential: pc.ID, Holder: parentDID})},
			now, now.Add(time.Minute), draftStatus, draftStatus)
		if err := is.checkDraft(draft, now); err != nil {
			return err
		}
		var rc *recordedCredential
		err = is.db.Batch(ctx, func(tx store.Tx) error {
			out, rc = nil, nil
			var p agentRecord
			if ok, err := getJSON(tx, bucketAgents, parentDID, &p); err != nil || !ok {
				if err != nil {
					return err
				}
				return fail(KindForbidden, CodeUnknownAgent, "the parent agent is not registered")
			}
			if e := is.parentLive(tx, &p, pc.ID, now); e != nil {
				return e
			}
			if p.AgentRevocation == nil || p.AgentSuspension == nil {
				// The parent's first delegation: its agent-level entries,
				// which every descendant's credential carries. The parent
				// is live (checked above), so clear bits are its state.
				arev, err := is.status.AllocateTx(tx, statuslist.Revocation)
				if err != nil {
					return fmt.Errorf("allocate agent revocation index: %w", err)
				}
				asus, err := is.status.AllocateTx(tx, statuslist.Suspension)
				if err != nil {
					return fmt.Errorf("allocate agent suspension index: %w", err)
				}
				p.AgentRevocation, p.AgentSuspension = &arev, &asus
				if err := putJSON(tx, bucketAgents, p.DID, &p); err != nil {
					return err
				}
			}
			child, e := attenuate(&p, pc, &r, is.cfg, now)
			if e != nil {
				return e
			}
			if tx.Bucket(bucketAgents).Get([]byte(child.DID)) != nil {
				return fail(KindConflict, CodeAgentExists, "agent %s is already registered", child.DID)
			}
			// Scopes the root principal's ceiling marks as needing
			// approval need it again for every sub-agent they go to.
			var root principalRecord
			if ok, err := getJSON(tx, bucketPrincipals, p.CreatedBy, &root); err != nil {
				return err
			} else if !ok {
				return fail(KindForbidden, CodePrincipalRemoved, "the principal that registered the parent's tree was removed")
			}
			if need := needsApproval(root.principal(), child.Scopes); len(need) > 0 {
				iss, err := is.requestApprovalTx(tx, parentDID, ev, child, time.Duration(child.TTL), child.RegistrationExpires.Sub(now), need, now)
				out = iss
				return err
			}
			signer, err := is.signerTx(tx)
			if err != nil {
				return err
			}
			rc, err = is.recordTx(tx, signer, child, parentDID, now, audit.ActionAgentIssue)
			return err
		})
		if err != nil {
			return wrapInternal(err, "issue sub-agent")
		}
		if rc != nil {
			out, err = rc.sign(is)
		}
		return err
	})
	return out, err
}

// parentLive re-reads, in the issuing transaction, what the verification
// of the parent's presentation saw: the parent is not retired, its
// registration and principal stand, and credID is its current, unrevoked,
// unsuspended credential.
func (is *Issuer) parentLive(tx store.Tx, p *agentRecord, credID string, now time.Time) *Error {
	if p.Retired {
		return fail(KindForbidden, CodeAgentRetired, "the parent agent is retired")
	}
	if orphaned, err := is.orphaned(tx, p.CreatedBy, p.CreatedAt); err != nil || orphaned {
		return fail(KindForbidden, CodePrincipalRemoved, "the principal that registered the parent's tree was removed")
	}
	if !now.Before(p.RegistrationExpires) {
		return fail(KindForbidden, CodeRegistrationEnded, "the parent's registration ended at %s", p.RegistrationExpires.Format(time.RFC3339))
	}
	if credID != p.CurrentCredential {
		return fail(KindForbidden, CodeUnknownCredential, "only the parent's current credential may delegate")
	}
	var cr credentialRecord
	if ok, err := getJSON(tx, bucketCredentials, credID, &cr); err != nil || !ok {
		return fail(KindForbidden, CodeUnknownCredential, "no record of the parent's credential")
	}
	if cr.Revoked {
		return fail(KindForbidden, Code(reason.Revoked), "the parent's credential is revoked")
	}
	if cr.Suspended {
		return fail(KindForbidden, Code(reason.Suspended), "the parent's credential is suspended")
	}
	return nil
}

// checkShape checks what a request must be whoever asks: a valid agent
// DID, scopes, audiences, owner and purpose. Wildcards are left to the
// grant checks, which name the term they exceed.
func checkShape(r *IssueRequest) *Error {
	if _, e := did.PublicKeyFromKey(r.Agent); e != nil {
		if _, e2 := did.PublicKeyFromJWK(r.Agent); e2 != nil {
			return badRequest("agent must be a valid did:key or did:jwk")
		}
	}
	if len(r.Scopes) == 0 || len(r.Scopes) > 64 {
		return badRequest("scopes: between 1 and 64 required")
	}
	if len(r.Audiences) == 0 || len(r.Audiences) > 32 {
		return badRequest("audiences: between 1 and 32 required")
	}
	if slices.Contains(r.Audiences, "") || len(slices.Compact(slices.Sorted(slices.Values(r.Audiences)))) != len(r.Audiences) {
		return badRequest("audiences must be distinct and non-empty")
	}
	if len(slices.Compact(slices.Sorted(slices.Values(r.Scopes)))) != len(r.Scopes) {
		return badRequest("scopes must be distinct")
	}
	if r.Owner == "" || r.Purpose == "" {
		return badRequest("owner and purpose are required")
	}
	if len(r.Owner) > 256 || len(r.Purpose) > 1024 || len(r.OnBehalfOf) > 256 || len(r.Task) > 256 {
		return badRequest("owner, onBehalfOf and task are limited to 256 bytes, purpose to 1024")
	}
	return nil
}

// attenuate checks that r asks for no more than the parent p holds
// through its current credential pc, and returns the sub-agent's record.
// Each refusal names the term exceeded.
func attenuate(p *agentRecord, pc *vc.Credential, r *IssueRequest, cfg Config, now time.Time) (*agentRecord, *Error) {
	depth := p.Depth + 1
	if depth > p.MaxDepth || depth > MaxDelegationDepth {
		return nil, fail(KindForbidden, CodeDepthExceeded, "a sub-agent of %s would be at depth %d; the tree's maximum delegation depth is %d",
			p.DID, depth, min(p.MaxDepth, MaxDelegationDepth))
	}
	if r.Agent == p.DID {
		return nil, fail(KindForbidden, CodeDelegationCycle, "the sub-agent's key is the parent's own")
	}
	for _, l := range p.Delegation {
		if l.Holder == r.Agent {
			return nil, fail(KindForbidden, CodeDelegationCycle, "the sub-agent's key is that of its ancestor %s", l.Holder)
		}
	}
	parent := pc.CredentialSubject
	if e := grantWithin(&parent, r); e != nil {
		return nil, e
	}
	// Lifetimes: each credential within the parent's credential TTL and
	// the first within the parent's current credential; the registration
	// within the parent's.
	until := *pc.ValidUntil
	remaining := until.Sub(now)
	ttl := r.TTL
	if ttl == 0 {
		ttl = min(cfg.DefaultTTL, time.Duration(p.TTL), remaining.Truncate(time.Second))
	}
	if ttl < time.Minute {
		return nil, fail(KindInvalid, CodeLifetimeExceeds, "ttl must be at least 1m; the parent's credential has %v left", remaining)
	}
	if ttl > time.Duration(p.TTL) {
		return nil, fail(KindForbidden, CodeLifetimeExceeds, "ttl %v is longer than the parent's %v", ttl, time.Duration(p.TTL))
	}
	if now.Add(ttl).After(until) {
		return nil, fail(KindForbidden, CodeLifetimeExceeds, "ttl %v ends after the parent's credential (valid until %s)", ttl, until.Format(time.RFC3339))
	}
	regLeft := p.RegistrationExpires.Sub(now)
	life := r.Lifetime
	if life == 0 {
		life = min(cfg.DefaultRegistration, regLeft)
	}
	if life < ttl {
		return nil, fail(KindInvalid, CodeLifetimeExceeds, "lifetime %v is shorter than the ttl %v", life, ttl)
	}
	if now.Add(life).After(p.RegistrationExpires) {
		return nil, fail(KindForbidden, CodeLifetimeExceeds, "lifetime %v ends after the parent's registration (%s)", life, p.RegistrationExpires.Format(time.RFC3339))
	}
	cons, e := narrower(parent.Constraints, r.Constraints)
	if e != nil {
		return nil, e
	}
	if r.OnBehalfOf != "" && r.OnBehalfOf != p.OnBehalfOf {
		return nil, fail(KindForbidden, CodeOnBehalfOf, "a sub-agent acts on behalf of its parent's %q", p.OnBehalfOf)
	}
	task := r.Task
	if task == "" {
		task = p.Task
	}
	chain := append(slices.Clone(p.Delegation), vc.DelegationLink{Credential: pc.ID, Holder: p.DID})
	anc := append(slices.Clone(p.AncestorStatus), *p.AgentRevocation, *p.AgentSuspension)
	return &agentRecord{DID: r.Agent, Owner: r.Owner, Purpose: r.Purpose, Scopes: slices.Clone(r.Scopes),
		Audiences: slices.Clone(r.Audiences), OnBehalfOf: p.OnBehalfOf, Constraints: cons, TTL: duration(ttl),
		CreatedBy: p.CreatedBy, CreatedAt: now, RegistrationExpires: now.Add(life),
		Parent: p.DID, Depth: depth, MaxDepth: p.MaxDepth, Delegation: chain, AncestorStatus: anc, Task: task}, nil
}

// grantWithin checks the requested scopes and audiences against the
// parent's credential.
func grantWithin(parent *vc.Subject, r *IssueRequest) *Error {
	for _, s := range r.Scopes {
		if strings.HasSuffix(s, "*") {
			return fail(KindForbidden, CodeScopeExceedsCeiling, "scope %q is a wildcard; the parent's grant has none", s)
		}
		if !validScope(s) {
			return badRequest("scope %q is not resource:action", s)
		}
		if !slices.Contains(parent.Scopes, s) {
			return fail(KindForbidden, CodeScopeExceedsCeiling, "scope %q is not in the parent's grant", s)
		}
	}
	for _, a := range r.Audiences {
		if !slices.Contains(parent.Audiences, a) {
			return fail(KindForbidden, CodeAudienceNotAllowed, "audience %q is not in the parent's grant", a)
		}
	}
	return nil
}

// narrower returns the child's constraints: those it asks for, each no
// looser than the parent's, and the parent's where it asks for none.
func narrower(parent, child *vc.Constraints) (*vc.Constraints, *Error) {
	if parent == nil {
		return child, nil
	}
	out := vc.Constraints{}
	if child != nil {
		out = *child
	}
	if len(parent.SourceNetworks) > 0 {
		if len(out.SourceNetworks) == 0 {
			out.SourceNetworks = slices.Clone(parent.SourceNetworks)
		}
		for _, n := range out.SourceNetworks {
			if !withinNetworks(n, parent.SourceNetworks) {
				return nil, fail(KindForbidden, CodeConstraintLooser, "source network %q is not within the parent's %v", n, parent.SourceNetworks)
			}
		}
	}
	if parent.RateLimit != "" {
		if out.RateLimit == "" {
			out.RateLimit = parent.RateLimit
		}
		pr, ok1 := ratePerHour(parent.RateLimit)
		cr, ok2 := ratePerHour(out.RateLimit)
		if !ok2 {
			return nil, badRequest("rateLimit %q is not N/s, N/m or N/h", out.RateLimit)
		}
		if !ok1 || cr > pr {
			return nil, fail(KindForbidden, CodeConstraintLooser, "rate limit %s is higher than the parent's %s", out.RateLimit, parent.RateLimit)
		}
	}
	if parent.TimeWindow != nil {
		if out.TimeWindow == nil {
			w := *parent.TimeWindow
			out.TimeWindow = &w
		}
		if e := withinWindow(out.TimeWindow, parent.TimeWindow); e != nil {
			return nil, e
		}
	}
	return &out, nil
}

func withinNetworks(n string, parents []string) bool {
	c, err := netip.ParsePrefix(n)
	if err != nil {
		return false
	}
	c = c.Masked()
	for _, s := range parents {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		if p.Addr().Is4() == c.Addr().Is4() && p.Bits() <= c.Bits() && p.Contains(c.Addr()) {
			return true
		}
	}
	return false
}

// ratePerHour converts "N/s", "N/m" or "N/h" to requests per hour.
func ratePerHour(s string) (int64, bool) {
	n, unit, ok := strings.Cut(s, "/")
	v, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || v <= 0 || v > 1e9 {
		return 0, false
	}
	switch unit {
	case "s":
		return v * 3600, true
	case "m":
		return v * 60, true
	case "h":
		return v, true
	}
	return 0, false
}

// withinWindow checks that every minute of the daily window c is in p.
// Windows compare only in the same time zone.
func withinWindow(c, p *vc.TimeWindow) *Error {
	tz := func(s string) string {
		if s == "" {
			return "UTC"
		}
		return s
	}
	if tz(c.TZ) != tz(p.TZ) {
		return fail(KindForbidden, CodeConstraintLooser, "time window zone %s differs from the parent's %s", tz(c.TZ), tz(p.TZ))
	}
	cm, err1 := windowMinutes(c)
	pm, err2 := windowMinutes(p)
	if err1 != nil {
		return badRequest("time window: %v", err1)
	}
	if err2 != nil {
		return fail(KindForbidden, CodeConstraintLooser, "the parent's time window is invalid")
	}
	for m := range cm {
		if cm[m] && !pm[m] {
			return fail(KindForbidden, CodeConstraintLooser, "time window %s-%s is not within the parent's %s-%s", c.Start, c.End, p.Start, p.End)
		}
	}
	return nil
}

// windowMinutes returns the minutes of the day a window covers (start
// inclusive, end exclusive; a window spanning midnight wraps), as the
// verifier reads it.
func windowMinutes(w *vc.TimeWindow) (*[1440]bool, error) {
	clock := func(s string) (int, error) {
		h, m, ok := strings.Cut(s, ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
			return 0, fmt.Errorf("bad time of day %q", s)
		}
		return hh*60 + mm, nil
	}
	start, err := clock(w.Start)
	if err != nil {
		return nil, err
	}
	end, err := clock(w.End)
	if err != nil {
		return nil, err
	}
	var out [1440]bool
	for m := 0; m < 1440; m++ {
		if start <= end {
			out[m] = m >= start && m < end
		} else {
			out[m] = m >= start || m < end
		}
	}
	return &out, nil
}

// auditChain converts a credential's delegation chain for an audit event.
func auditChain(links []vc.DelegationLink) []audit.Link {
	if len(links) == 0 {
		return nil
	}
	out := make([]audit.Link, len(links))
	for i, l := range links {
		out[i] = audit.Link{Credential: l.Credential, Holder: l.Holder}
	}
	return out
}

// agentLevelTx carries a status change of credential credID to its
// agent's agent-level entry when credID is the agent's current credential:
// revoking it revokes the agent (and so every descendant), suspending it
// suspends the agent, reinstating it lifts the agent's suspension. A
// change to an older credential leaves the agent as it is.
func (is *Issuer) agentLevelTx(tx store.Tx, agentDID, credID string, action StatusAction) error {
	var a agentRecord
	ok, err := getJSON(tx, bucketAgents, agentDID, &a)
	if err != nil || !ok || a.CurrentCredential != credID || a.AgentRevocation == nil || a.AgentSuspension == nil {
		return err
	}
	switch action {
	case Revoke:
		return is.status.SetTx(tx, *a.AgentRevocation, true)
	case Suspend:
		return is.status.SetTx(tx, *a.AgentSuspension, true)
	case Reinstate:
		return is.status.SetTx(tx, *a.AgentSuspension, false)
	}
	return nil
}

// ancestorStatus walks up from parent and returns StatusRevoked and the
// nearest ancestor that is retired or whose current credential is revoked,
// else StatusSuspended and the nearest suspended one, else "". It reads
// what the agent-level status entries say, from the records that set them.
func ancestorStatus(tx store.Tx, parent string) (status, ancestor string) {
	for i := 0; parent != "" && i <= MaxDelegationDepth; i++ {
		var p agentRecord
		if ok, err := getJSON(tx, bucketAgents, parent, &p); err != nil || !ok {
			return StatusRevoked, parent // fail closed: an ancestor without a record
		}
		var c credentialRecord
		ok, _ := getJSON(tx, bucketCredentials, p.CurrentCredential, &c)
		switch {
		case p.Retired || (ok && c.Revoked):
			return StatusRevoked, p.DID
		case ok && c.Suspended && status == "":
			status, ancestor = StatusSuspended, p.DID
		}
		parent = p.Parent
	}
	return status, ancestor
}

// RetireTree retires an agent and every descendant of it, and RetireTask
// every agent of a job, each in one durable transaction with one audit
// event per agent retired. Agents already retired are left as they are;
// orchestrators reach only the agents of their own trees. They return the
// agents retired.
func (is *Issuer) RetireTree(ctx context.Context, actor *Principal, root string) ([]Agent, error) {
	return is.retireGroup(ctx, actor, "tree of "+root, root, func(all map[string]*agentRecord) []*agentRecord {
		r, ok := all[root]
		if !ok {
			return nil
		}
		children := map[string][]*agentRecord{}
		for _, a := range all {
			if a.Parent != "" {
				children[a.Parent] = append(children[a.Parent], a)
			}
		}
		out := []*agentRecord{r}
		for i := 0; i < len(out); i++ {
			out = append(out, children[out[i].DID]...)
		}
		return out
	})
}

// RetireTask: see RetireTree.
func (is *Issuer) RetireTask(ctx context.Context, actor *Principal, task string) ([]Agent, error) {
	return is.retireGroup(ctx, actor, "task "+task, "", func(all map[string]*agentRecord) []*agentRecord {
		var out []*agentRecord
		for _, a := range all {
			if task != "" && a.Task == task {
				out = append(out, a)
			}
		}
		slices.SortFunc(out, func(x, y *agentRecord) int { return x.Depth - y.Depth })
		return out
	})
}

func (is *Issuer) retireGroup(ctx context.Context, actor *Principal, what, subject string, pick func(map[string]*agentRecord) []*agentRecord) ([]Agent, error) {
	var out []Agent
	ev := is.event(actor, audit.ActionAgentRetire)
	ev.Subject, ev.Detail = subject, what
	err := is.guard(ctx, ev, func(ev *audit.Event) error {
		now := is.cfg.Now().UTC().Truncate(time.Second)
		err := is.db.Update(ctx, func(tx store.Tx) error {
			all := map[string]*agentRecord{}
			err := tx.Bucket(bucketAgents).Range(nil, func(k, v []byte) error {
				var a agentRecord
				if err := decodeJSON(tx, bucketAgents, k, v, &a); err != nil {
					return err
				}
				if actor.Role == RoleAdmin || a.CreatedBy == actor.DID {
					all[a.DID] = &a
				}
				return nil
			})
			if err != nil {
				return err
			}
			picked := pick(all)
			if len(picked) == 0 {
				return fail(KindNotFound, CodeUnknownAgent, "no agent in the %s", what)
			}
			for _, a := range picked {
				if a.Retired {
					continue
				}
				ids, err := is.retireTx(tx, a, now)
				if err != nil {
					return err
				}
				v := a.agent()
				v.Credentials, v.Status = ids, StatusRetired
				out = append(out, *v)
				done := *ev
				done.Subject, done.Time, done.Decision = a.DID, now, audit.DecisionAllow
				done.Detail = fmt.Sprintf("%s: %d credentials revoked", what, len(ids))
				done.Delegation = auditChain(a.Delegation)
				if err := is.audit.AppendTx(tx, &done); err != nil {
					return err
				}
			}
			if len(out) == 0 {
				return fail(KindConflict, CodeAgentRetired, "every agent in the %s is already retired", what)
			}
			return nil
		})
		if err != nil {
			return wrapInternal(err, fmt.Sprintf("retire %s", what))
		}
		return nil
	})
	return out, err
}
