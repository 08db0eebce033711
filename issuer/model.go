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
)

// Principal is a registered caller of the issuer API: an admin or an
// orchestrator, identified by a DID whose key signs its requests.
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
}

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
	// Status is computed when read: active, suspended, revoked, expired or
	// retired (of the current credential and the registration).
	Status string `json:"status"`
}

// Credential is the issuer's record of one credential it signed.
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
}

// Agent statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusRevoked   = "revoked"
	StatusExpired   = "expired"
	StatusRetired   = "retired"
)

// Duration is a time.Duration that is written to JSON as a Go duration
// string ("15m") and read from one or from a number of seconds.
type Duration time.Duration

// MarshalJSON writes "15m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads "15m" or 900.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if len(b) > 0 && b[0] != '"' {
		s += "s"
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return badRequest("invalid duration %q", strings.Trim(string(b), `"`))
	}
	*d = Duration(v)
	return nil
}

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
