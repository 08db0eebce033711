package issuer

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
)

// Buckets of the issuer's records in the store.
const (
	bucketPrincipals  = "issuer.principals"
	bucketAgents      = "issuer.agents"
	bucketCredentials = "issuer.credentials"
	// bucketAgentCredentials indexes each agent's credentials: key
	// agentDID NUL credentialID, value the credential's 8-byte big-endian
	// issue sequence within the agent (for oldest-first order). It
	// replaces the list agent records used to carry, so that a refresh
	// writes records of constant size.
	bucketAgentCredentials = "issuer.agentcredentials"
)

// The stored records. They are the storage format, kept apart from the
// domain types above and from the wire types of package api, so that
// either can change without rewriting the other; their JSON is that of the
// first release, so existing data directories read as they are.

type principalRecord struct {
	DID       string    `json:"did"`
	Role      Role      `json:"role"`
	Name      string    `json:"name,omitempty"`
	Ceiling   []string  `json:"ceiling,omitempty"`
	Audiences []string  `json:"audiences,omitempty"`
	MaxTTL    duration  `json:"maxTtl,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

func (r *principalRecord) principal() *Principal {
	return &Principal{DID: r.DID, Role: r.Role, Name: r.Name, Ceiling: r.Ceiling, Audiences: r.Audiences,
		MaxTTL: time.Duration(r.MaxTTL), CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
}

func principalRecordOf(p *Principal) *principalRecord {
	return &principalRecord{DID: p.DID, Role: p.Role, Name: p.Name, Ceiling: p.Ceiling, Audiences: p.Audiences,
		MaxTTL: duration(p.MaxTTL), CreatedAt: p.CreatedAt, CreatedBy: p.CreatedBy}
}

type agentRecord struct {
	DID                 string          `json:"did"`
	Owner               string          `json:"owner"`
	Purpose             string          `json:"purpose"`
	Scopes              []string        `json:"scopes"`
	Audiences           []string        `json:"audiences"`
	OnBehalfOf          string          `json:"onBehalfOf,omitempty"`
	Constraints         *vc.Constraints `json:"constraints,omitempty"`
	TTL                 duration        `json:"ttl"`
	CreatedBy           string          `json:"createdBy"`
	CreatedAt           time.Time       `json:"createdAt"`
	RegistrationExpires time.Time       `json:"registrationExpires"`
	CurrentCredential   string          `json:"currentCredential,omitempty"`
	CredentialExpires   time.Time       `json:"credentialExpires"`
	// Credentials is the list of the first release, kept only for reading
	// old records: new credentials go to bucketAgentCredentials.
	Credentials []string `json:"credentials,omitempty"`
	// Issued counts the credentials issued (0 in old records: then
	// len(Credentials) is the count).
	Issued int `json:"issued,omitempty"`
	// RefreshTAT is the refresh limiter's theoretical arrival time (GCRA):
	// see Issuer.refreshAllowed.
	RefreshTAT *time.Time `json:"refreshTat,omitempty"`
	Retired    bool       `json:"retired,omitempty"`
	RetiredAt  *time.Time `json:"retiredAt,omitempty"`
	LastSeen   *time.Time `json:"lastSeen,omitempty"`
}

func (r *agentRecord) agent() *Agent {
	return &Agent{DID: r.DID, Owner: r.Owner, Purpose: r.Purpose, Scopes: r.Scopes, Audiences: r.Audiences,
		OnBehalfOf: r.OnBehalfOf, Constraints: r.Constraints, TTL: time.Duration(r.TTL), CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt, RegistrationExpires: r.RegistrationExpires, CurrentCredential: r.CurrentCredential,
		CredentialExpires: r.CredentialExpires, Credentials: r.Credentials, Retired: r.Retired, RetiredAt: r.RetiredAt,
		LastSeen: r.LastSeen}
}

type credentialRecord struct {
	ID         string         `json:"id"`
	Agent      string         `json:"agent"`
	IssuedBy   string         `json:"issuedBy"`
	IssuedAt   time.Time      `json:"issuedAt"`
	ValidUntil time.Time      `json:"validUntil"`
	Revocation vc.StatusEntry `json:"revocation"`
	Suspension vc.StatusEntry `json:"suspension"`
	Revoked    bool           `json:"revoked,omitempty"`
	Suspended  bool           `json:"suspended,omitempty"`
	// SuspendedBy and SuspendedRole name who imposed the suspension in
	// force (empty in records of earlier releases: then only an admin
	// reinstates).
	SuspendedBy   string `json:"suspendedBy,omitempty"`
	SuspendedRole Role   `json:"suspendedRole,omitempty"`
}

func (r *credentialRecord) credential() *Credential {
	return &Credential{ID: r.ID, Agent: r.Agent, IssuedBy: r.IssuedBy, IssuedAt: r.IssuedAt, ValidUntil: r.ValidUntil,
		Revocation: r.Revocation, Suspension: r.Suspension, Revoked: r.Revoked, Suspended: r.Suspended,
		SuspendedBy: r.SuspendedBy}
}

// duration is stored as a Go duration string ("15m0s") and read from one
// or from a number of seconds.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

func (d *duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if len(b) > 0 && b[0] != '"' {
		s += "s"
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", strings.Trim(string(b), `"`))
	}
	*d = duration(v)
	return nil
}

func putJSON(tx store.Tx, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(key), b)
}

func getJSON(tx store.Tx, bucket, key string, v any) (bool, error) {
	b := tx.Bucket(bucket).Get([]byte(key))
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("issuer: corrupt record %s/%s: %w", bucket, key, err)
	}
	return true, nil
}
