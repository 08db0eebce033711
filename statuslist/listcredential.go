package statuslist

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// Type names of a status list credential.
const (
	TypeListCredential = "BitstringStatusListCredential"
	TypeList           = "BitstringStatusList"
)

// MediaType is the Content-Type of a served list.
const MediaType = "application/vc+jwt"

// ListCredential describes one status list credential to sign.
type ListCredential struct {
	// Issuer is the issuer DID; the signer's kid must be one of its keys.
	Issuer string
	// URL is the list's URL: the credential's id (and jti).
	URL        string
	Purpose    Purpose
	Bits       *Bitstring
	TTL        time.Duration
	ValidFrom  time.Time
	ValidUntil time.Time
}

// SignListCredential signs l as a BitstringStatusListCredential secured
// as vc+jwt (VC-JOSE-COSE: the credential is the JWT payload, with iss,
// jti, iat and exp agreeing with it), the form Checker verifies.
func SignListCredential(s jws.Signer, l ListCredential) (string, error) {
	if s == nil {
		return "", errors.New("statuslist: no current signer")
	}
	if d, err := jws.KidDID(s.KeyID()); err != nil || d != l.Issuer {
		return "", fmt.Errorf("statuslist: signer kid %q is not a key of issuer %q", s.KeyID(), l.Issuer)
	}
	if l.Bits == nil || !l.Purpose.Valid() {
		return "", errors.New("statuslist: list credential needs bits and a purpose")
	}
	enc, err := l.Bits.Encode()
	if err != nil {
		return "", err
	}
	from, until := l.ValidFrom.UTC(), l.ValidUntil.UTC()
	ttl := l.TTL.Milliseconds()
	c := listCredential{
		Context:    []string{vc.ContextV2},
		ID:         l.URL,
		Type:       []string{vc.TypeVerifiableCredential, TypeListCredential},
		Issuer:     vc.Issuer{ID: l.Issuer},
		ValidFrom:  &from,
		ValidUntil: &until,
		CredentialSubject: listSubject{
			ID:            l.URL + "#list",
			Type:          stringOrSet{TypeList},
			StatusPurpose: stringOrSet{string(l.Purpose)},
			EncodedList:   enc,
			TTL:           &ttl,
		},
		Claims: vc.Claims{Iss: l.Issuer, Jti: l.URL, Iat: from.Unix(), Exp: until.Unix()},
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("statuslist: encode list credential: %w", err)
	}
	return jws.Sign(s, vc.TypCredential, payload)
}

// listCredential is the payload of a status list vc+jwt.
type listCredential struct {
	Context           []string    `json:"@context"`
	ID                string      `json:"id"`
	Type              []string    `json:"type"`
	Issuer            vc.Issuer   `json:"issuer"`
	ValidFrom         *time.Time  `json:"validFrom,omitempty"`
	ValidUntil        *time.Time  `json:"validUntil,omitempty"`
	CredentialSubject listSubject `json:"credentialSubject"`
	vc.Claims
}

type listSubject struct {
	ID            string      `json:"id,omitempty"`
	Type          stringOrSet `json:"type"`
	StatusPurpose stringOrSet `json:"statusPurpose"`
	EncodedList   string      `json:"encodedList"`
	TTL           *int64      `json:"ttl,omitempty"`
	StatusSize    *int64      `json:"statusSize,omitempty"`
}

// stringOrSet is a JSON string or array of strings; it is written as a
// string when it has one member.
type stringOrSet []string

func (s stringOrSet) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = stringOrSet{v}
		return nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = v
	return nil
}

func (s stringOrSet) has(v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
