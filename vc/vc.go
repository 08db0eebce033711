package vc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// Validate checks the credential's structure: VC 2.0 context first, the
// VerifiableCredential and AgentCredential types, an issuer, a subject id,
// validFrom before validUntil, and registered claims that agree with the
// data model. It returns a *reason.Error with code malformed.
func (c *Credential) Validate() error {
	if err := CheckBase(c.Context, c.Type, TypeVerifiableCredential); err != nil {
		return err
	}
	if !HasType(c.Type, TypeAgentCredential) {
		return reason.New(reason.Malformed, "vc: type does not include AgentCredential")
	}
	if c.CredentialSubject.ID == "" {
		return reason.New(reason.Malformed, "vc: credentialSubject has no id")
	}
	return CheckClaims(&c.Claims, c.Issuer.ID, c.CredentialSubject.ID, c.ID, c.ValidFrom, c.ValidUntil)
}

// CheckBase checks @context and type of any VC 2.0 credential or
// presentation.
func CheckBase(context, types []string, base string) error {
	if len(context) == 0 || context[0] != ContextV2 {
		return reason.New(reason.Malformed, "vc: first @context is not "+ContextV2)
	}
	if !HasType(types, base) {
		return reason.New(reason.Malformed, "vc: type does not include "+base)
	}
	return nil
}

// CheckClaims cross-checks registered JWT claims with the data model of a
// credential: every claim that is present must agree, so that a JWT library
// and a VC processor can never reach different conclusions.
func CheckClaims(cl *Claims, issuer, subject, id string, validFrom, validUntil *time.Time) error {
	if issuer == "" {
		return reason.New(reason.Malformed, "vc: no issuer")
	}
	if cl.Iss != "" && cl.Iss != issuer {
		return reason.New(reason.Malformed, "vc: iss claim disagrees with issuer")
	}
	if cl.Sub != "" && cl.Sub != subject {
		return reason.New(reason.Malformed, "vc: sub claim disagrees with credentialSubject.id")
	}
	if cl.Jti != "" && cl.Jti != id {
		return reason.New(reason.Malformed, "vc: jti claim disagrees with id")
	}
	if cl.Exp != 0 && (validUntil == nil || validUntil.Unix() != cl.Exp) {
		return reason.New(reason.Malformed, "vc: exp claim disagrees with validUntil")
	}
	if cl.Nbf != 0 && (validFrom == nil || validFrom.Unix() != cl.Nbf) {
		return reason.New(reason.Malformed, "vc: nbf claim disagrees with validFrom")
	}
	if validFrom != nil && validUntil != nil && !validUntil.After(*validFrom) {
		return reason.New(reason.Malformed, "vc: validUntil is not after validFrom")
	}
	return nil
}

// CheckValidity checks the validity window at now with the given clock
// skew allowance: expired past validUntil (and exp), not_yet_valid before
// validFrom.
func (c *Credential) CheckValidity(now time.Time, skew time.Duration) error {
	return CheckWindow(now, skew, c.ValidFrom, c.ValidUntil, c.Exp)
}

// CheckWindow is CheckValidity for any credential.
func CheckWindow(now time.Time, skew time.Duration, validFrom, validUntil *time.Time, exp int64) error {
	if validUntil != nil && now.After(validUntil.Add(skew)) {
		return reason.New(reason.Expired, "vc: credential expired at "+validUntil.UTC().Format(time.RFC3339))
	}
	if exp != 0 && now.After(time.Unix(exp, 0).Add(skew)) {
		return reason.New(reason.Expired, "vc: credential exp has passed")
	}
	if validFrom != nil && now.Add(skew).Before(*validFrom) {
		return reason.New(reason.NotYetValid, "vc: credential is valid from "+validFrom.UTC().Format(time.RFC3339))
	}
	return nil
}

// DecodeCredential decodes and validates an AgentCredential payload.
func DecodeCredential(payload []byte) (*Credential, error) {
	// The fast path accepts only input on which it agrees exactly with
	// encoding/json; anything else (and every error) takes decodeJSON.
	c, ok := fastDecodeCredential(payload)
	if !ok {
		c = new(Credential)
		if err := decodeJSON(payload, c); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeJSON decodes a single JSON object, refusing trailing data.
func decodeJSON(b []byte, v any) error {
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
	return nil
}
