package issuer

import (
	"regexp"
	"strings"
	"time"

	"github.com/agentid/agentid/vc"
)

// Role is a principal's role.
type Role string

// Roles.
const (
	RoleAdmin        Role = "admin"
	RoleOrchestrator Role = "orchestrator"
	// RoleApprover decides other principals' approval requests and
	// nothing else (an orchestrator may approve too: Principal.Approver).
	RoleApprover Role = "approver"
)

// Principal is a registered caller of the issuer API: an admin or an
// orchestrator, identified by a DID whose key signs its requests.
type Principal struct {
	DID  string
	Role Role
	Name string
	// Ceiling is the set of scopes the principal may grant: exact scopes or
	// "resource:*". Empty for an admin means any scope.
	Ceiling []string
	// Audiences, when set, are the only audiences it may grant.
	Audiences []string
	// MaxTTL bounds the credential lifetimes it may request (0: the
	// issuer's maximum).
	MaxTTL    time.Duration
	CreatedAt time.Time
	CreatedBy string
	// MaxDepth is how deep the agents it registers may delegate: 0 (the
	// default) allows no sub-agents, 1 children, 2 grandchildren, … up
	// to MaxDelegationDepth; AddPrincipal refuses any other value.
	MaxDepth int
	// NeedApproval lists the scopes (exact or "resource:*") whose grant
	// waits for an approver's yes.
	NeedApproval []string
	// Approver lets an orchestrator approve or deny other principals'
	// pending requests (admins always may).
	Approver bool
}

// Agent is the inventory view of an agent.
type Agent struct {
	DID         string
	Owner       string
	Purpose     string
	Scopes      []string
	Audiences   []string
	OnBehalfOf  string
	Constraints *vc.Constraints
	// TTL is the lifetime of each credential issued to it.
	TTL       time.Duration
	CreatedBy string
	CreatedAt time.Time
	// RegistrationExpires ends refresh: no credential outlives it.
	RegistrationExpires time.Time
	CurrentCredential   string
	CredentialExpires   time.Time
	// Credentials lists every credential the agent was issued, oldest
	// first.
	Credentials []string
	Retired     bool
	RetiredAt   *time.Time
	LastSeen    *time.Time
	// Status is computed when read: active, suspended, revoked, expired,
	// retired or orphaned (of the current credential, the registration and
	// the principal that created the agent). A sub-agent whose ancestor is
	// revoked, retired or suspended shows that status, and Ancestor names
	// that ancestor.
	Status   string
	Ancestor string
	// Parent is the agent that delegated to this one ("" for an agent a
	// principal registered); Depth its distance from the root agent;
	// MaxDepth the deepest descendant its tree may have; Delegation the
	// chain of its credentials.
	Parent     string
	Depth      int
	MaxDepth   int
	Delegation []vc.DelegationLink
	Task       string
	Approval   *vc.Approval
}

// Credential is the issuer's record of one credential it signed.
type Credential struct {
	ID         string
	Agent      string
	IssuedBy   string
	IssuedAt   time.Time
	ValidUntil time.Time
	Revocation vc.StatusEntry
	Suspension vc.StatusEntry
	Revoked    bool
	Suspended  bool
	// SuspendedBy is the principal whose suspension is in force.
	SuspendedBy string
}

// Agent statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
	StatusExpired   = "expired"
	StatusRetired   = "retired"
	// StatusOrphaned: the principal that created the agent was removed
	// (or removed and registered again since). Its credentials were
	// suspended then and it cannot refresh: retire it, or register it
	// again through a current principal after retiring.
	StatusOrphaned = "orphaned"
)

// AllowedBy reports whether scope is within a ceiling entry: equal to it, or
// under a trailing-* prefix ("calendar:*" allows "calendar:read").
func AllowedBy(scope string, ceiling []string) bool {
	for _, c := range ceiling {
		if c == scope {
			return true
		}
		if p, ok := strings.CutSuffix(c, "*"); ok && strings.HasSuffix(p, ":") && strings.HasPrefix(scope, p) {
			return true
		}
	}
	return false
}

// scopeRE is the AgentCredential schema's scope pattern; the issuer checks
// requests against it up front so that a bad scope is a clear
// invalid_request rather than a schema failure at signing time.
var scopeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}:[a-z0-9][a-z0-9._-]{0,63}$`)

// validScope reports whether s is "resource:action" with no wildcard.
func validScope(s string) bool { return scopeRE.MatchString(s) }

// validCeiling reports whether s is a scope or "resource:*".
func validCeiling(s string) bool {
	if p, ok := strings.CutSuffix(s, ":*"); ok {
		return validScope(p + ":x")
	}
	return validScope(s)
}
