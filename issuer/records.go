package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentid/agentid/internal/recordmac"
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
	// MaxDepth, NeedApproval and Approver: see Principal.
	MaxDepth     int      `json:"maxDepth,omitempty"`
	NeedApproval []string `json:"needApproval,omitempty"`
	Approver     bool     `json:"approver,omitempty"`
}

func (r *principalRecord) principal() *Principal {
	return &Principal{DID: r.DID, Role: r.Role, Name: r.Name, Ceiling: r.Ceiling, Audiences: r.Audiences,
		MaxTTL: time.Duration(r.MaxTTL), CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		MaxDepth: r.MaxDepth, NeedApproval: r.NeedApproval, Approver: r.Approver}
}

func principalRecordOf(p *Principal) *principalRecord {
	return &principalRecord{DID: p.DID, Role: p.Role, Name: p.Name, Ceiling: p.Ceiling, Audiences: p.Audiences,
		MaxTTL: duration(p.MaxTTL), CreatedAt: p.CreatedAt, CreatedBy: p.CreatedBy,
		MaxDepth: p.MaxDepth, NeedApproval: p.NeedApproval, Approver: p.Approver}
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
	// Delegation: see delegation.go. Records of earlier releases have
	// none of these (a root agent without agent-level entries gets them
	// at its next issuance).
	Parent          string              `json:"parent,omitempty"`
	Depth           int                 `json:"depth,omitempty"`
	MaxDepth        int                 `json:"maxDepth,omitempty"`
	Delegation      []vc.DelegationLink `json:"delegation,omitempty"`
	AgentRevocation *vc.StatusEntry     `json:"agentRevocation,omitempty"`
	AgentSuspension *vc.StatusEntry     `json:"agentSuspension,omitempty"`
	// AncestorStatus holds the agent-level revocation and suspension
	// entries of each ancestor, root first, two per ancestor.
	AncestorStatus []vc.StatusEntry `json:"ancestorStatus,omitempty"`
	Task           string           `json:"task,omitempty"`
	Approval       *vc.Approval     `json:"approval,omitempty"`
}

func (r *agentRecord) agent() *Agent {
	return &Agent{DID: r.DID, Owner: r.Owner, Purpose: r.Purpose, Scopes: r.Scopes, Audiences: r.Audiences,
		OnBehalfOf: r.OnBehalfOf, Constraints: r.Constraints, TTL: time.Duration(r.TTL), CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt, RegistrationExpires: r.RegistrationExpires, CurrentCredential: r.CurrentCredential,
		CredentialExpires: r.CredentialExpires, Credentials: r.Credentials, Retired: r.Retired, RetiredAt: r.RetiredAt,
		LastSeen: r.LastSeen, Parent: r.Parent, Depth: r.Depth, MaxDepth: r.MaxDepth, Delegation: r.Delegation,
		Task: r.Task, Approval: r.Approval}
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

// Records at rest are authenticated: putJSON seals each record with a MAC
// bound to its bucket and key (package internal/recordmac, under
// Config.RecordsKey) and getJSON and decodeJSON refuse one that does not
// verify, with a KindIntegrity *Error (CodeRecordTampered). They find the
// sealer in the transaction: the Issuer wraps its store (sealedDB) so that
// every transaction it opens carries it, and a transaction that does not
// is refused rather than read unauthenticated.

// sealedDB is the issuer's store: each transaction carries the sealer.
type sealedDB struct {
	store.Store
	seal *recordmac.Sealer
}

type sealedTx struct {
	store.Tx
	seal *recordmac.Sealer
}

func (d sealedDB) View(ctx context.Context, fn func(store.Tx) error) error {
	return d.Store.View(ctx, func(tx store.Tx) error { return fn(sealedTx{tx, d.seal}) })
}

func (d sealedDB) Update(ctx context.Context, fn func(store.Tx) error) error {
	return d.Store.Update(ctx, func(tx store.Tx) error { return fn(sealedTx{tx, d.seal}) })
}

func (d sealedDB) Batch(ctx context.Context, fn func(store.Tx) error) error {
	return d.Store.Batch(ctx, func(tx store.Tx) error { return fn(sealedTx{tx, d.seal}) })
}

var errNoSealer = errors.New("issuer: transaction does not carry the record sealer")

func sealerOf(tx store.Tx) (*recordmac.Sealer, error) {
	st, ok := tx.(sealedTx)
	if !ok {
		return nil, errNoSealer
	}
	return st.seal, nil
}

// tampered is the refusal for a stored record that fails its check.
func tampered(bucket, key string, err error) *Error {
	return &Error{Kind: KindIntegrity, Code: CodeRecordTampered,
		Detail: fmt.Sprintf("stored record %s/%s failed its integrity check", bucket, key), Err: err}
}

func putJSON(tx store.Tx, bucket, key string, v any) error {
	seal, err := sealerOf(tx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(key), seal.Seal(bucket, []byte(key), b))
}

func getJSON(tx store.Tx, bucket, key string, v any) (bool, error) {
	b := tx.Bucket(bucket).Get([]byte(key))
	if b == nil {
		return false, nil
	}
	return true, decodeJSON(tx, bucket, []byte(key), b, v)
}

// decodeJSON authenticates and decodes the stored value b of key in
// bucket, as read by a Range.
func decodeJSON(tx store.Tx, bucket string, key, b []byte, v any) error {
	seal, err := sealerOf(tx)
	if err != nil {
		return err
	}
	raw, err := seal.Open(bucket, key, b)
	if err != nil {
		return tampered(bucket, string(key), err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("issuer: corrupt record %s/%s: %w", bucket, key, err)
	}
	return nil
}

// recordBuckets are the buckets whose records are sealed.
var recordBuckets = []string{bucketPrincipals, bucketAgents, bucketCredentials, bucketApprovals}

// SealRecordsTx authenticates every principal, agent and credential
// record written before record MACs (the upgrade of a data directory),
// inside the caller's write transaction, and returns how many it sealed. A
// record already sealed must verify; one that does not fails the migration
// with a CodeRecordTampered *Error.
func (is *Issuer) SealRecordsTx(tx store.Tx) (int, error) {
	tx = sealedTx{tx, is.seal}
	if !is.seal.Keyed() {
		return 0, errors.New("issuer: seal records: no records key")
	}
	n := 0
	for _, bucket := range recordBuckets {
		type kv struct{ k, v []byte }
		var todo []kv
		err := tx.Bucket(bucket).Range(nil, func(k, v []byte) error {
			if recordmac.IsSealed(v) {
				if _, err := is.seal.Open(bucket, k, v); err != nil {
					return tampered(bucket, string(k), err)
				}
				return nil
			}
			todo = append(todo, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			return nil
		})
		if err != nil {
			return n, err
		}
		for _, r := range todo {
			if err := tx.Bucket(bucket).Put(r.k, is.seal.Seal(bucket, r.k, r.v)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// CheckRecords authenticates every principal, agent and credential record
// and returns the bucket/key of each that fails (at most limit; 0 means
// all). It changes nothing; a server runs it at start.
func (is *Issuer) CheckRecords(ctx context.Context, limit int) ([]string, error) {
	var bad []string
	err := is.db.View(ctx, func(tx store.Tx) error {
		for _, bucket := range recordBuckets {
			err := tx.Bucket(bucket).Range(nil, func(k, v []byte) error {
				if _, err := is.seal.Open(bucket, k, v); err != nil {
					bad = append(bad, bucket+"/"+string(k))
					if limit > 0 && len(bad) >= limit {
						return store.Stop
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return bad, err
}
