package api

import (
	"time"

	"github.com/agentid/agentid/vc"
)

// Role is a principal's role.
type Role string

// Roles.
const (
	RoleAdmin        Role = "admin"
	RoleOrchestrator Role = "orchestrator"
	// RoleApprover only decides approval requests.
	RoleApprover Role = "approver"
	// RoleResource: a resource server; it may introspect access tokens.
	RoleResource Role = "resource"
)

// Principal is a registered caller of the issuer API: an admin or an
// orchestrator, identified by a DID whose key signs its requests. It is the
// body of POST /v1/principals and its answer.
type Principal struct {
	DID  string `json:"did"`
	Role Role   `json:"role"`
	Name string `json:"name,omitempty"`
	// Ceiling is the set of scopes the principal may grant: exact scopes or
	// "resource:*". Empty for an admin means any scope.
	Ceiling []string `json:"ceiling,omitempty"`
	// Audiences, when set, are the only audiences it may grant.
	Audiences []string `json:"audiences,omitempty"`
	// MaxTTL bounds the credential lifetimes it may request (0: the
	// issuer's maximum).
	MaxTTL    Duration  `json:"maxTtl,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
	// MaxDepth is how deep its agents may delegate to sub-agents (0: not
	// at all; at most 8, the issuer refuses more). NeedApproval lists scopes (exact or "resource:*") whose
	// grant waits for an approver. Approver lets an orchestrator approve
	// others' requests.
	MaxDepth     int      `json:"maxDepth,omitempty"`
	NeedApproval []string `json:"needApproval,omitempty"`
	Approver     bool     `json:"approver,omitempty"`
}

// Agent statuses, as in [Agent.Status].
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
	StatusExpired   = "expired"
	StatusRetired   = "retired"
)

// Agent is the inventory record of an agent.
type Agent struct {
	DID         string          `json:"did"`
	Owner       string          `json:"owner"`
	Purpose     string          `json:"purpose"`
	Scopes      []string        `json:"scopes"`
	Audiences   []string        `json:"audiences"`
	OnBehalfOf  string          `json:"onBehalfOf,omitempty"`
	Constraints *vc.Constraints `json:"constraints,omitempty"`
	TTL         Duration        `json:"ttl"`
	CreatedBy   string          `json:"createdBy"`
	CreatedAt   time.Time       `json:"createdAt"`
	// RegistrationExpires ends refresh: no credential outlives it.
	RegistrationExpires time.Time  `json:"registrationExpires"`
	CurrentCredential   string     `json:"currentCredential,omitempty"`
	CredentialExpires   time.Time  `json:"credentialExpires"`
	Credentials         []string   `json:"credentials,omitempty"`
	Retired             bool       `json:"retired,omitempty"`
	RetiredAt           *time.Time `json:"retiredAt,omitempty"`
	LastSeen            *time.Time `json:"lastSeen,omitempty"`
	// Status is computed when read: one of the Status constants (of the
	// current credential and the registration). A sub-agent whose ancestor
	// is revoked, retired or suspended shows that status, and Ancestor
	// names the ancestor.
	Status   string `json:"status"`
	Ancestor string `json:"ancestor,omitempty"`
	// Parent is the agent that delegated to this one (none for an agent a
	// principal registered), Depth its distance from its root agent,
	// MaxDepth the tree's maximum depth, Delegation its credential chain.
	Parent     string              `json:"parent,omitempty"`
	Depth      int                 `json:"depth,omitempty"`
	MaxDepth   int                 `json:"maxDepth,omitempty"`
	Delegation []vc.DelegationLink `json:"delegation,omitempty"`
	Task       string              `json:"task,omitempty"`
	Approval   *vc.Approval        `json:"approval,omitempty"`
}

// Credential is the issuer's record of one credential it signed, the
// answer of the revoke, suspend and reinstate endpoints.
type Credential struct {
	ID         string         `json:"id"`
	Agent      string         `json:"agent"`
	IssuedBy   string         `json:"issuedBy"`
	IssuedAt   time.Time      `json:"issuedAt"`
	ValidUntil time.Time      `json:"validUntil"`
	Revocation vc.StatusEntry `json:"revocation"`
	Suspension vc.StatusEntry `json:"suspension"`
	Revoked    bool           `json:"revoked,omitempty"`
	Suspended  bool           `json:"suspended,omitempty"`
	// SuspendedBy is the DID of the principal whose suspension is in force
	// ("system" when removing a principal suspended it).
	SuspendedBy string `json:"suspendedBy,omitempty"`
}

// StatusAction is a change to a credential's status: the last path segment
// of POST /v1/credentials/{id}/{action}.
type StatusAction string

// Status actions.
const (
	Revoke    StatusAction = "revoke"
	Suspend   StatusAction = "suspend"
	Reinstate StatusAction = "reinstate"
)

// IssueRequest is the body of POST /v1/agents: a new agent's registration
// and first credential.
type IssueRequest struct {
	// Agent is the agent's did:key (or did:jwk).
	Agent string `json:"agent"`
	// Proof is a vp+jwt without credential signed by the agent's key, with
	// aud = the issuer URL and nonce = a nonce from GET /v1/nonce.
	Proof     string   `json:"proof"`
	Scopes    []string `json:"scopes"`
	Audiences []string `json:"audiences"`
	// TTL is the credential lifetime (0: the issuer's default); Lifetime
	// the registration's, how long the agent may refresh (0: the issuer's).
	TTL         Duration        `json:"ttl,omitempty"`
	Lifetime    Duration        `json:"lifetime,omitempty"`
	Owner       string          `json:"owner"`
	Purpose     string          `json:"purpose"`
	OnBehalfOf  string          `json:"onBehalfOf,omitempty"`
	Constraints *vc.Constraints `json:"constraints,omitempty"`
	// Task names the job the agent works for (a sub-agent inherits its
	// parent's when it names none).
	Task string `json:"task,omitempty"`
	// MaxDepth is how deep the new agent's tree may delegate (0: the
	// principal's own maximum; above it, admins only). Sub-agent requests
	// leave it out.
	MaxDepth int `json:"maxDepth,omitempty"`
}

// Issued is a signed credential (a vc+jwt) and the agent's inventory
// record: the answer of POST /v1/agents and POST /v1/credentials/refresh.
type Issued struct {
	Credential string    `json:"credential"`
	ID         string    `json:"id"`
	ValidUntil time.Time `json:"validUntil"`
	Agent      *Agent    `json:"agent"`
	// Approval and Status, instead of the above, are what a 202 answer
	// of POST /v1/agents carries (see [Pending]): the request waits for
	// an approver.
	Approval string `json:"approval,omitempty"`
	Status   string `json:"status,omitempty"`
}

// KeyInfo describes one issuer signing key.
type KeyInfo struct {
	// KID is the DID URL of the key (issuer DID + "#" + key id).
	KID     string    `json:"kid"`
	Alg     string    `json:"alg"`
	Primary bool      `json:"primary"`
	Created time.Time `json:"created"`
}

// VerifyRequest is the body of POST /v1/verify.
type VerifyRequest struct {
	Presentation string   `json:"presentation"`
	Audience     string   `json:"audience"`
	Nonce        string   `json:"nonce,omitempty"`
	Method       string   `json:"method,omitempty"`
	URL          string   `json:"url,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	SourceIP     string   `json:"sourceIP,omitempty"`
}

// VerifyResponse is the answer of POST /v1/verify: Valid with what the
// presentation established, or Error with the reason code. A refusal is a
// 200 answer, not an HTTP error.
type VerifyResponse struct {
	Valid        bool       `json:"valid"`
	Agent        string     `json:"agent,omitempty"`
	Issuer       string     `json:"issuer,omitempty"`
	Scopes       []string   `json:"scopes,omitempty"`
	Owner        string     `json:"owner,omitempty"`
	CredentialID string     `json:"credentialId,omitempty"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
	// DelegatedBy is the principal that registered the agent (or, for a
	// sub-agent, its tree); Delegation the chain of a sub-agent's
	// credential, root first; OnBehalfOf whom the agent acts for.
	DelegatedBy string              `json:"delegatedBy,omitempty"`
	Delegation  []vc.DelegationLink `json:"delegation,omitempty"`
	OnBehalfOf  string              `json:"onBehalfOf,omitempty"`
	Error       *VerifyError        `json:"error,omitempty"`
}

// VerifyError is the refusal in a [VerifyResponse]: a reason code (see
// package reason) and a short, safe detail for people.
type VerifyError struct {
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// Problem is an error answer (RFC 9457 problem details, served as
// application/problem+json) with agentid's "code" member, the stable
// reason or error code callers branch on.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// Error codes of the issuer API, in [Problem.Code] beside the reason codes
// of package reason (a refused request presentation answers with those).
const (
	CodeInvalidRequest      = "invalid_request"
	CodeUnknownPrincipal    = "unknown_principal"
	CodeForbidden           = "forbidden"
	CodeScopeExceedsCeiling = "scope_exceeds_ceiling"
	CodeAudienceNotAllowed  = "audience_not_allowed"
	CodeLifetimeExceeds     = "lifetime_exceeds_bound"
	CodeAgentExists         = "agent_exists"
	CodeUnknownAgent        = "unknown_agent"
	CodeUnknownCredential   = "unknown_credential"
	CodeAgentRetired        = "agent_retired"
	CodeRegistrationEnded   = "registration_ended"
	CodePrincipalExists     = "principal_exists"
	CodeIrreversible        = "irreversible"
	CodeLastAdmin           = "last_admin"
	// CodeInternal is an unexpected server failure; its detail is empty.
	CodeInternal = "internal"
	// CodeUnavailable (503, with Retry-After) is the storage of the
	// issuer failing underneath the operation (a full disk, an I/O error,
	// the audit log unwritable): nothing was done, and the same request
	// may succeed later.
	CodeUnavailable = "unavailable"
)

// Approval is a request that waits, or waited, for an approver: the answer
// of GET /v1/approvals/{id} and of approve and deny. Credential, ID and
// ValidUntil are set, for the requester only, once it is approved.
type Approval struct {
	ID           string     `json:"id"`
	Requester    string     `json:"requester"`
	Agent        string     `json:"agent"`
	Scopes       []string   `json:"scopes"`
	Audiences    []string   `json:"audiences"`
	Owner        string     `json:"owner"`
	Purpose      string     `json:"purpose"`
	Task         string     `json:"task,omitempty"`
	NeedApproval []string   `json:"needApproval"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"createdAt"`
	ExpiresAt    time.Time  `json:"expiresAt"`
	DecidedBy    string     `json:"decidedBy,omitempty"`
	DecidedAt    *time.Time `json:"decidedAt,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Issued       *Issued    `json:"issued,omitempty"`
}

// Approval statuses, as in [Approval.Status].
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExpired  = "expired"
)

// Pending is the 202 answer of POST /v1/agents when the request
// waits for an approver.
type Pending struct {
	Approval string `json:"approval"`
	Status   string `json:"status"`
}

// ApprovalList is the answer of GET /v1/approvals.
type ApprovalList struct {
	Approvals []Approval `json:"approvals"`
}

// Retire is the optional body of POST /v1/agents/{did}/retire: Tree
// retires the agent's descendants too. It is in the body, which the
// request presentation's htd binds, not in the query, which htu leaves out.
type Retire struct {
	Tree bool `json:"tree,omitempty"`
}

// Decision is the body of POST /v1/approvals/{id}/approve and .../deny.
type Decision struct {
	Reason string `json:"reason"`
}
