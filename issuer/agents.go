package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/bbolt"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
)

// IssueRequest asks for a new agent's registration and first credential.
type IssueRequest struct {
	// Agent is the agent's did:key (or did:jwk).
	Agent string `json:"agent"`
	// Proof is a vp+jwt without credential signed by the agent's key, with
	// aud = the issuer URL and nonce = a nonce from GET /v1/nonce.
	Proof       string          `json:"proof"`
	Scopes      []string        `json:"scopes"`
	Audiences   []string        `json:"audiences"`
	TTL         Duration        `json:"ttl,omitempty"`
	Lifetime    Duration        `json:"lifetime,omitempty"`
	Owner       string          `json:"owner"`
	Purpose     string          `json:"purpose"`
	OnBehalfOf  string          `json:"onBehalfOf,omitempty"`
	Constraints *vc.Constraints `json:"constraints,omitempty"`
}

// Issued is a signed credential and the agent's inventory record.
type Issued struct {
	Credential string    `json:"credential"`
	ID         string    `json:"id"`
	ValidUntil time.Time `json:"validUntil"`
	Agent      *Agent    `json:"agent"`
}

func (is *Issuer) checkIssue(ctx context.Context, actor *Principal, r *IssueRequest, now time.Time) (ttl time.Duration, reg time.Time, err *Error) {
	if actor.Role != RoleAdmin && actor.Role != RoleOrchestrator {
		return 0, reg, fail(http.StatusForbidden, CodeForbidden, "role %s may not register agents", actor.Role)
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
			return 0, reg, fail(http.StatusForbidden, CodeScopeExceedsCeiling, "scope %q is beyond the caller's ceiling", s)
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
			return 0, reg, fail(http.StatusForbidden, CodeAudienceNotAllowed, "audience %q is not allowed for the caller", a)
		}
	}
	if r.Owner == "" || r.Purpose == "" {
		return 0, reg, badRequest("owner and purpose are required")
	}
	if len(r.Owner) > 256 || len(r.Purpose) > 1024 || len(r.OnBehalfOf) > 256 {
		return 0, reg, badRequest("owner and onBehalfOf are limited to 256 bytes, purpose to 1024")
	}
	if slices.Contains(r.Audiences, "") || len(slices.Compact(slices.Sorted(slices.Values(r.Audiences)))) != len(r.Audiences) {
		return 0, reg, badRequest("audiences must be distinct")
	}
	ttl = time.Duration(r.TTL)
	bound := is.cfg.MaxTTL
	if actor.MaxTTL > 0 && time.Duration(actor.MaxTTL) < bound {
		bound = time.Duration(actor.MaxTTL)
	}
	if ttl == 0 {
		ttl = min(is.cfg.DefaultTTL, bound)
	}
	if ttl < time.Minute || ttl > bound {
		return 0, reg, fail(http.StatusBadRequest, CodeLifetimeExceeds, "ttl must be within [1m, %v]", bound)
	}
	life := time.Duration(r.Lifetime)
	if life == 0 {
		life = is.cfg.DefaultRegistration
	}
	if life < ttl || life > is.cfg.MaxRegistration {
		return 0, reg, fail(http.StatusBadRequest, CodeLifetimeExceeds, "lifetime must be within [ttl, %v]", is.cfg.MaxRegistration)
	}
	return ttl, now.Add(life), nil
}

// Issue registers an agent and signs its first credential. The proof of
// control, the ceiling and every lifetime bound are checked; the agent
// record, the credential record, the status indexes and the audit event are
// committed in one durable transaction before the credential is returned.
func (is *Issuer) Issue(ctx context.Context, actor *Principal, r IssueRequest) (*Issued, error) {
	now := is.cfg.Now().UTC().Truncate(time.Second)
	ttl, reg, e := is.checkIssue(ctx, actor, &r, now)
	if e != nil {
		return nil, is.deny(ctx, actor, audit.ActionAgentIssue, r.Agent, "", e)
	}
	proof, err := is.proof.VerifyHolder(ctx, r.Proof, verifier.Request{})
	if err != nil {
		return nil, is.deny(ctx, actor, audit.ActionAgentIssue, r.Agent, "", fromReason(err, http.StatusBadRequest))
	}
	if len(proof.VerifiableCredential) != 0 {
		return nil, is.deny(ctx, actor, audit.ActionAgentIssue, r.Agent, "", fail(http.StatusBadRequest, string(reason.Malformed), "a proof of control carries no credential"))
	}
	if proof.HolderDID() != r.Agent {
		return nil, is.deny(ctx, actor, audit.ActionAgentIssue, r.Agent, "", fail(http.StatusBadRequest, string(reason.HolderMismatch), "proof of control is not signed by the agent's key"))
	}
	a := &Agent{DID: r.Agent, Owner: r.Owner, Purpose: r.Purpose, Scopes: r.Scopes, Audiences: r.Audiences,
		OnBehalfOf: r.OnBehalfOf, Constraints: r.Constraints, TTL: Duration(ttl), CreatedBy: actor.DID,
		CreatedAt: now, RegistrationExpires: reg}
	// Validate a draft before taking the write lock, so that a request the
	// schema refuses (a bad constraint, say) is a clear 400 and never rolls
	// back a batch of other callers' issuances. The signed credential is
	// validated again in the transaction.
	draft := is.credential(a, now, now.Add(ttl), draftStatus, draftStatus)
	if payload, err := vc.EncodeCredential(draft, now); err != nil {
		return nil, is.deny(ctx, actor, audit.ActionAgentIssue, r.Agent, "", fromReason(err, http.StatusBadRequest))
	} else if err := is.schema.ValidateCredential(payload); err != nil {
		return nil, is.deny(ctx, actor, audit.ActionAgentIssue, r.Agent, "", badRequest("the credential would not match its schema: %v", err))
	}
	var out *Issued
	err = is.db.Batch(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketAgents).Get([]byte(a.DID)) != nil {
			return fail(http.StatusConflict, CodeAgentExists, "agent %s is already registered", a.DID)
		}
		rec := *a
		rec.Credentials = nil
		iss, err := is.issueTx(ctx, tx, &rec, actor.DID, now, audit.ActionAgentIssue)
		out = iss
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, is.deny(ctx, actor, audit.ActionAgentIssue, r.Agent, "", e)
		}
		return nil, fmt.Errorf("issuer: issue: %w", err)
	}
	return out, nil
}

// issueTx allocates status entries, signs a credential for a, and writes
// the agent, credential and audit records in tx.
func (is *Issuer) issueTx(ctx context.Context, tx *bbolt.Tx, a *Agent, actor string, now time.Time, action string) (*Issued, error) {
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
	if err := is.schema.ValidateCredential(payload); err != nil {
		return nil, fail(http.StatusBadRequest, string(reason.SchemaInvalid), "the credential would not match its schema: %v", err)
	}
	signer, err := is.Signer(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := vc.SignCredentialPayload(signer, is.did, payload)
	if err != nil {
		return nil, err
	}
	cr := Credential{ID: c.ID, Agent: a.DID, IssuedBy: actor, IssuedAt: now, ValidUntil: until, Revocation: rev, Suspension: sus}
	a.CurrentCredential, a.CredentialExpires = c.ID, until
	a.Credentials = append(a.Credentials, c.ID)
	if err := putJSON(tx, bucketCredentials, c.ID, cr); err != nil {
		return nil, err
	}
	if err := putJSON(tx, bucketAgents, a.DID, a); err != nil {
		return nil, err
	}
	if err := is.audit.AppendTx(tx, &audit.Event{Time: now, Actor: actor, Action: action, Subject: a.DID,
		Credential: c.ID, Resource: joinAud(a.Audiences), Scopes: a.Scopes, Decision: audit.DecisionAllow}); err != nil {
		return nil, err
	}
	rec := *a
	rec.Status = StatusActive
	return &Issued{Credential: tok, ID: c.ID, ValidUntil: until, Agent: &rec}, nil
}

// draftStatus stands in for allocated status entries when a draft
// credential is checked against the schema.
var draftStatus = vc.StatusEntry{Type: "BitstringStatusListEntry", StatusPurpose: "revocation", StatusListIndex: "0", StatusListCredential: "https://draft.invalid/status/revocation/0"}

// credential builds the AgentCredential for agent a.
func (is *Issuer) credential(a *Agent, now, until time.Time, rev, sus vc.StatusEntry) *vc.Credential {
	c := &vc.Credential{
		Context:   []string{vc.ContextV2, vc.ContextAgentID},
		ID:        "urn:uuid:" + uuid.NewString(),
		Type:      []string{vc.TypeVerifiableCredential, vc.TypeAgentCredential},
		Issuer:    vc.Issuer{ID: is.did},
		ValidFrom: &now, ValidUntil: &until,
		CredentialSubject: vc.Subject{ID: a.DID, Scopes: a.Scopes, Audiences: a.Audiences, Owner: a.Owner,
			Purpose: a.Purpose, DelegatedBy: a.CreatedBy, OnBehalfOf: a.OnBehalfOf, Constraints: a.Constraints},
		CredentialStatus: []vc.StatusEntry{rev, sus},
		CredentialSchema: &vc.Schema{ID: is.cfg.URL + "/schemas/agent-credential-v1.schema.json", Type: "JsonSchema"},
	}
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

func putJSON(tx *bbolt.Tx, bucket []byte, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(key), b)
}

func getJSON(tx *bbolt.Tx, bucket []byte, key string, v any) (bool, error) {
	b := tx.Bucket(bucket).Get([]byte(key))
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("issuer: corrupt record %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

// Refresh verifies an agent's presentation of its current credential
// (aud = issuer URL, htm/htu bound to the refresh request) and signs a new
// credential with the same grants, unless the credential is revoked or
// suspended, the agent retired, or its registration over.
func (is *Issuer) Refresh(ctx context.Context, presentation, method, url string) (*Issued, error) {
	now := is.cfg.Now().UTC().Truncate(time.Second)
	p, err := is.principal.VerifyHolder(ctx, presentation, verifier.Request{Method: method, URL: url})
	if err != nil {
		e := fromReason(err, http.StatusUnauthorized)
		return nil, is.denyDID(ctx, "", audit.ActionCredentialRefresh, "", e)
	}
	holder := p.HolderDID()
	if len(p.VerifiableCredential) != 1 {
		return nil, is.denyDID(ctx, holder, audit.ActionCredentialRefresh, "", fail(http.StatusBadRequest, string(reason.Malformed), "refresh needs exactly one enveloped credential"))
	}
	tok, _ := p.VerifiableCredential[0].JWT()
	pc, err := vc.ParseCredential(tok)
	if err == nil && pc.Credential.Issuer.ID != is.did {
		err = reason.New(reason.UntrustedIssuer, "not a credential of this issuer")
	}
	if err == nil {
		err = pc.Verify(ctx, is.resolver)
	}
	if err == nil {
		err = pc.Credential.CheckValidity(is.cfg.Now(), 0)
	}
	if err == nil && pc.Credential.CredentialSubject.ID != holder {
		err = reason.New(reason.HolderMismatch, "presentation signer is not the credential subject")
	}
	if err == nil {
		err = (&localStatus{is: is}).Check(ctx, pc.Credential.Issuer.ID, pc.Credential.CredentialStatus)
	}
	if err != nil {
		return nil, is.denyDID(ctx, holder, audit.ActionCredentialRefresh, "", fromReason(err, http.StatusForbidden))
	}
	old := pc.Credential
	var out *Issued
	err = is.db.Batch(func(tx *bbolt.Tx) error {
		var a Agent
		if ok, err := getJSON(tx, bucketAgents, holder, &a); err != nil || !ok {
			if err != nil {
				return err
			}
			return fail(http.StatusForbidden, CodeUnknownAgent, "agent is not registered")
		}
		if a.Retired {
			return fail(http.StatusForbidden, CodeAgentRetired, "agent is retired")
		}
		if !now.Before(a.RegistrationExpires) {
			return fail(http.StatusForbidden, CodeRegistrationEnded, "agent's registration ended at %s", a.RegistrationExpires.Format(time.RFC3339))
		}
		// Only the current credential refreshes: an older one, still
		// unexpired, must not outlive a revocation of its successor.
		if old.ID != a.CurrentCredential {
			return fail(http.StatusForbidden, CodeUnknownCredential, "only the agent's current credential can be refreshed")
		}
		// Re-read its status inside the transaction: a revocation that
		// committed after the check above must win.
		var cr Credential
		if ok, err := getJSON(tx, bucketCredentials, old.ID, &cr); err != nil || !ok {
			if err != nil {
				return err
			}
			return fail(http.StatusForbidden, CodeUnknownCredential, "no record of this credential")
		}
		if cr.Revoked {
			return fail(http.StatusForbidden, string(reason.Revoked), "credential is revoked")
		}
		if cr.Suspended {
			return fail(http.StatusForbidden, string(reason.Suspended), "credential is suspended")
		}
		a.LastSeen = &now
		iss, err := is.issueTx(ctx, tx, &a, holder, now, audit.ActionCredentialRefresh)
		out = iss
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, is.denyDID(ctx, holder, audit.ActionCredentialRefresh, old.ID, e)
		}
		return nil, fmt.Errorf("issuer: refresh: %w", err)
	}
	return out, nil
}

func (is *Issuer) denyDID(ctx context.Context, holder, action, cred string, e *Error) error {
	if aerr := is.auditDeny(ctx, holder, action, holder, cred, e); aerr != nil {
		return aerr
	}
	return e
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
	act := action.auditAction()
	if action != Revoke && action != Suspend && action != Reinstate {
		return nil, is.deny(ctx, actor, "credential."+string(action), "", credID, badRequest("unknown status action %q", action))
	}
	var out Credential
	err := is.db.Update(func(tx *bbolt.Tx) error {
		var c Credential
		if ok, err := getJSON(tx, bucketCredentials, credID, &c); err != nil || !ok {
			if err != nil {
				return err
			}
			return fail(http.StatusNotFound, CodeUnknownCredential, "no credential %s", credID)
		}
		if err := is.mayManage(tx, actor, c.Agent); err != nil {
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
				return fail(http.StatusConflict, CodeIrreversible, "credential is revoked")
			}
			if err := is.status.SetTx(tx, c.Suspension, true); err != nil {
				return err
			}
			c.Suspended = true
		case Reinstate:
			if c.Revoked {
				return fail(http.StatusConflict, CodeIrreversible, "a revoked credential cannot be reinstated")
			}
			if err := is.status.SetTx(tx, c.Suspension, false); err != nil {
				return err
			}
			c.Suspended = false
		}
		if err := putJSON(tx, bucketCredentials, c.ID, c); err != nil {
			return err
		}
		out = c
		return is.audit.AppendTx(tx, &audit.Event{Time: is.cfg.Now().UTC(), Actor: actor.DID, Action: act,
			Subject: c.Agent, Credential: c.ID, Decision: audit.DecisionAllow})
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, is.deny(ctx, actor, act, "", credID, e)
		}
		return nil, fmt.Errorf("issuer: %s: %w", action, err)
	}
	return &out, nil
}

func (is *Issuer) mayManage(tx *bbolt.Tx, actor *Principal, agentDID string) error {
	if actor.Role == RoleAdmin {
		return nil
	}
	var a Agent
	ok, err := getJSON(tx, bucketAgents, agentDID, &a)
	if err != nil {
		return err
	}
	if !ok || a.CreatedBy != actor.DID {
		return fail(http.StatusForbidden, CodeForbidden, "orchestrators manage only the agents they created")
	}
	return nil
}

// Retire revokes every credential of an agent and refuses it new ones.
func (is *Issuer) Retire(ctx context.Context, actor *Principal, agentDID string) (*Agent, error) {
	var out Agent
	now := is.cfg.Now().UTC().Truncate(time.Second)
	err := is.db.Update(func(tx *bbolt.Tx) error {
		var a Agent
		ok, err := getJSON(tx, bucketAgents, agentDID, &a)
		if err != nil {
			return err
		}
		// An orchestrator learns nothing of agents it did not create.
		if !ok || (actor.Role != RoleAdmin && a.CreatedBy != actor.DID) {
			return fail(http.StatusNotFound, CodeUnknownAgent, "no agent %s", agentDID)
		}
		if a.Retired {
			return fail(http.StatusConflict, CodeAgentRetired, "agent is already retired")
		}
		for _, id := range a.Credentials {
			var c Credential
			if ok, err := getJSON(tx, bucketCredentials, id, &c); err != nil || !ok {
				return fmt.Errorf("credential record %s missing: %v", id, err)
			}
			if c.Revoked {
				continue
			}
			if err := is.status.SetTx(tx, c.Revocation, true); err != nil {
				return err
			}
			c.Revoked = true
			if err := putJSON(tx, bucketCredentials, c.ID, c); err != nil {
				return err
			}
		}
		a.Retired, a.RetiredAt = true, &now
		if err := putJSON(tx, bucketAgents, a.DID, a); err != nil {
			return err
		}
		out = a
		return is.audit.AppendTx(tx, &audit.Event{Time: now, Actor: actor.DID, Action: audit.ActionAgentRetire,
			Subject: a.DID, Decision: audit.DecisionAllow, Detail: fmt.Sprintf("%d credentials revoked", len(a.Credentials))})
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, is.deny(ctx, actor, audit.ActionAgentRetire, agentDID, "", e)
		}
		return nil, fmt.Errorf("issuer: retire: %w", err)
	}
	out.Status = StatusRetired
	return &out, nil
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

// Agents lists the inventory, sorted by creation time.
func (is *Issuer) Agents(ctx context.Context, actor *Principal, f AgentFilter) ([]Agent, error) {
	if actor.Role != RoleAdmin {
		f.CreatedBy = actor.DID
	}
	now := is.cfg.Now()
	if f.DormantFor == 0 {
		f.DormantFor = 7 * 24 * time.Hour
	}
	var out []Agent
	err := is.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
			var a Agent
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("issuer: corrupt agent record %s: %w", k, err)
			}
			is.fill(tx, &a, now)
			if f.CreatedBy != "" && a.CreatedBy != f.CreatedBy {
				return nil
			}
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
			out = append(out, a)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// Agent returns one inventory record.
func (is *Issuer) Agent(ctx context.Context, actor *Principal, agentDID string) (*Agent, error) {
	var a Agent
	err := is.db.View(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx, bucketAgents, agentDID, &a)
		if err != nil {
			return err
		}
		if !ok || (actor.Role != RoleAdmin && a.CreatedBy != actor.DID) {
			return fail(http.StatusNotFound, CodeUnknownAgent, "no agent %s", agentDID)
		}
		is.fill(tx, &a, is.cfg.Now())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// fill computes Status and merges the in-memory last-seen time.
func (is *Issuer) fill(tx *bbolt.Tx, a *Agent, now time.Time) {
	is.seenMu.Lock()
	if t, ok := is.seen[a.DID]; ok && (a.LastSeen == nil || t.After(*a.LastSeen)) {
		a.LastSeen = &t
	}
	is.seenMu.Unlock()
	var c Credential
	ok, _ := getJSON(tx, bucketCredentials, a.CurrentCredential, &c)
	switch {
	case a.Retired:
		a.Status = StatusRetired
	case ok && c.Revoked:
		a.Status = StatusRevoked
	case ok && c.Suspended:
		a.Status = StatusSuspended
	case !now.Before(a.CredentialExpires):
		a.Status = StatusExpired
	default:
		a.Status = StatusActive
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
