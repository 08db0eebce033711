package vc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agentid/agentid/internal/strictjson"
	"time"

	"github.com/agentid/agentid/internal/credcheck"
	"github.com/agentid/agentid/reason"
)

// Context URLs and type names used on the wire.
const (
	// ContextV2 is the W3C VC Data Model 2.0 base context; it is always the
	// first @context entry.
	ContextV2 = "https://www.w3.org/ns/credentials/v2"
	// ContextAgentID defines the AgentCredential terms. The document is
	// embedded in package schemas and served by the issuer at
	// /contexts/agentid-v1.jsonld; verifiers must use a pinned copy and
	// never fetch it.
	ContextAgentID = "https://agentid.dev/contexts/v1"

	TypeVerifiableCredential   = "VerifiableCredential"
	TypeAgentCredential        = "AgentCredential"
	TypeVerifiablePresentation = "VerifiablePresentation"
	TypeEnvelopedCredential    = "EnvelopedVerifiableCredential"

	// TypCredential and TypPresentation are the JWS typ header values
	// (VC-JOSE-COSE).
	TypCredential   = "vc+jwt"
	TypPresentation = "vp+jwt"

	// EnvelopePrefix starts the data: URL that envelopes a vc+jwt in a
	// presentation.
	EnvelopePrefix = "data:application/vc+jwt,"
)

// Credential is a W3C VC 2.0 AgentCredential. The JSON form is the vc+jwt
// payload itself: there is no "vc" claim. The registered JWT claims (iss,
// sub, jti, iat, exp) are carried alongside and must agree with the data
// model; SignCredential sets them and ParseCredential cross-checks them.
type Credential struct {
	Context           []string      `json:"@context"`
	ID                string        `json:"id,omitempty"`
	Type              []string      `json:"type"`
	Issuer            Issuer        `json:"issuer"`
	ValidFrom         *time.Time    `json:"validFrom,omitempty"`
	ValidUntil        *time.Time    `json:"validUntil,omitempty"`
	CredentialSubject Subject       `json:"credentialSubject"`
	CredentialStatus  []StatusEntry `json:"credentialStatus,omitempty"`
	CredentialSchema  *Schema       `json:"credentialSchema,omitempty"`

	Claims
}

// Claims are the registered JWT claims that may accompany a JOSE-secured
// credential or presentation.
type Claims struct {
	Iss string `json:"iss,omitempty"`
	Sub string `json:"sub,omitempty"`
	Jti string `json:"jti,omitempty"`
	Iat int64  `json:"iat,omitempty"`
	Exp int64  `json:"exp,omitempty"`
	Nbf int64  `json:"nbf,omitempty"`
}

// check returns cl as the claims credcheck checks. The conversion needs
// the two types to have the same fields, so it fails to compile if they
// drift apart.
func (cl *Claims) check() *credcheck.Claims {
	return (*credcheck.Claims)(cl)
}

// Subject is the credentialSubject of an AgentCredential.
type Subject struct {
	ID          string       `json:"id"`
	Scopes      []string     `json:"scopes,omitempty"`
	Audiences   []string     `json:"audiences,omitempty"`
	Owner       string       `json:"owner,omitempty"`
	Purpose     string       `json:"purpose,omitempty"`
	DelegatedBy string       `json:"delegatedBy,omitempty"`
	OnBehalfOf  string       `json:"onBehalfOf,omitempty"`
	Constraints *Constraints `json:"constraints,omitempty"`
	// Delegation is the chain of a sub-agent's credential: one link per
	// ancestor agent, from the agent the root principal (DelegatedBy)
	// registered down to the parent that asked for this credential.
	// Empty for an agent a principal registered.
	Delegation []DelegationLink `json:"delegation,omitempty"`
	// Task names the job the agent works for, when its request named one.
	Task string `json:"task,omitempty"`
	// Approval records the person who approved a grant that needed one.
	Approval *Approval `json:"approval,omitempty"`
}

// DelegationLink is one ancestor in a delegation chain: the credential it
// held when it delegated, and its DID.
type DelegationLink struct {
	Credential string `json:"credential"`
	Holder     string `json:"holder"`
}

// Approval is who approved a grant that needed approval, when, and why.
type Approval struct {
	ID       string    `json:"id"`
	Approver string    `json:"approver"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
}

// Constraints narrow where and how a credential may be used.
type Constraints struct {
	// SourceNetworks are CIDR prefixes the request must come from.
	SourceNetworks []string `json:"sourceNetworks,omitempty"`
	// RateLimit is "N/s", "N/m" or "N/h": requests per agent.
	RateLimit string `json:"rateLimit,omitempty"`
	// TimeWindow is a daily window ("08:00"-"18:00") in an IANA zone.
	TimeWindow *TimeWindow `json:"timeWindow,omitempty"`
}

// TimeWindow is a daily time-of-day window.
type TimeWindow struct {
	Start string `json:"start"`
	End   string `json:"end"`
	TZ    string `json:"tz,omitempty"`
}

// StatusEntry is a BitstringStatusListEntry.
type StatusEntry struct {
	ID                   string `json:"id,omitempty"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

// Schema is a credentialSchema entry.
type Schema struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// Issuer is the VC issuer: a URL string on the wire, or an object with an
// id (both forms are accepted on parse; agentid writes the string form).
type Issuer struct {
	ID   string
	Name string
}

// MarshalJSON writes the string form unless a name is set.
func (i Issuer) MarshalJSON() ([]byte, error) {
	if i.Name == "" {
		return json.Marshal(i.ID)
	}
	return json.Marshal(struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}{i.ID, i.Name})
}

// UnmarshalJSON accepts a string or an object with a string id.
func (i *Issuer) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &i.ID)
	}
	var o struct {
		ID   string          `json:"id"`
		Name json.RawMessage `json:"name"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	i.ID = o.ID
	if len(o.Name) > 0 && o.Name[0] == '"' {
		_ = json.Unmarshal(o.Name, &i.Name)
	}
	return nil
}

// HasType reports whether types contains t.
func HasType(types []string, t string) bool {
	return credcheck.HasType(types, t)
}

// Validate checks the credential's structure: VC 2.0 context first, the
// VerifiableCredential and AgentCredential types, an issuer, a subject id,
// validFrom before validUntil, and registered claims that agree with the
// data model. It returns a *reason.Error with code malformed.
func (c *Credential) Validate() error {
	if err := credcheck.CheckBase(c.Context, c.Type, TypeVerifiableCredential); err != nil {
		return err
	}
	if !HasType(c.Type, TypeAgentCredential) {
		return reason.New(reason.Malformed, "vc: type does not include AgentCredential")
	}
	if c.CredentialSubject.ID == "" {
		return reason.New(reason.Malformed, "vc: credentialSubject has no id")
	}
	return credcheck.CheckClaims(c.Claims.check(), c.Issuer.ID, c.CredentialSubject.ID, c.ID, c.ValidFrom, c.ValidUntil)
}

// CheckValidity checks the validity window at now with the given clock
// skew allowance: expired past validUntil (and exp), not_yet_valid before
// validFrom.
func (c *Credential) CheckValidity(now time.Time, skew time.Duration) error {
	return credcheck.CheckWindow(now, skew, c.ValidFrom, c.ValidUntil, c.Exp)
}

// DecodeCredential decodes and validates an AgentCredential payload.
func DecodeCredential(payload []byte) (*Credential, error) {
	// The fast path accepts only input on which it agrees exactly with
	// encoding/json; anything else (and every error) takes decodeJSON.
	c, ok := fastDecodeCredential(payload)
	if !ok {
		c = new(Credential)
		if err := decodeJSON(payload, c, credentialNames); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// The member names the decoders know, for strictjson: Issuer decodes
// {"id", "name"} itself.
var (
	credentialNames   = strictjson.NewVocab(Credential{}).With("name")
	presentationNames = strictjson.NewVocab(Presentation{}).With("name")
)

// decodeJSON decodes a single JSON object, refusing trailing data and
// anything on which parsers could disagree (strictjson: duplicate or
// case-folded member names, bytes that are not UTF-8).
func decodeJSON(b []byte, v any, names *strictjson.Vocab) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return reason.New(reason.Malformed, "vc: payload is not a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return reason.Wrap(reason.Malformed, fmt.Sprintf("vc: member %q has the wrong type", ute.Field), nil)
		}
		return reason.Wrap(reason.Malformed, "vc: payload is not valid JSON", err)
	}
	// Valid JSON, and decoded; but what encoding/json read may not be what
	// another parser reads: then the payload means nothing.
	if err := strictjson.Check(b, names); err != nil {
		return reason.Wrap(reason.Malformed, "vc: payload is ambiguous JSON", err)
	}
	return nil
}
