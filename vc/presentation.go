package vc

import (
	"encoding/json"
	"strings"

	"github.com/agentid/agentid/internal/credcheck"
	"github.com/agentid/agentid/reason"
)

// Presentation is a W3C VC 2.0 VerifiablePresentation secured as vp+jwt.
// Agents sign one per request to prove possession of their key; principals
// (admins, orchestrators) sign one without credentials to authenticate to
// the issuer API.
type Presentation struct {
	Context              []string    `json:"@context"`
	ID                   string      `json:"id,omitempty"`
	Type                 []string    `json:"type"`
	Holder               string      `json:"holder,omitempty"`
	VerifiableCredential []Enveloped `json:"verifiableCredential,omitempty"`

	Iss   string   `json:"iss,omitempty"`
	Aud   Audience `json:"aud,omitempty"`
	Iat   int64    `json:"iat,omitempty"`
	Exp   int64    `json:"exp,omitempty"`
	Nbf   int64    `json:"nbf,omitempty"`
	Jti   string   `json:"jti,omitempty"`
	Nonce string   `json:"nonce,omitempty"`
	// Htm and Htu bind the presentation to one HTTP request (as DPoP, RFC
	// 9449): the method and the URL without query or fragment.
	Htm string `json:"htm,omitempty"`
	Htu string `json:"htu,omitempty"`
	// Htd (agentid extension) binds the request body: the unpadded
	// base64url SHA-256 of its exact bytes. The issuer checks it on
	// principal calls when present.
	Htd string `json:"htd,omitempty"`
	// For (agentid extension) names, in a proof of control, the DID of the
	// principal the proof is made for; the issuer refuses a proof made for
	// another principal.
	For string `json:"for,omitempty"`
}

// Enveloped is an EnvelopedVerifiableCredential: a vc+jwt in a data: URL.
type Enveloped struct {
	Context []string `json:"@context,omitempty"`
	Type    string   `json:"type"`
	ID      string   `json:"id"`
}

// Envelope wraps a vc+jwt for a presentation.
func Envelope(credentialJWT string) Enveloped {
	return Enveloped{Context: []string{ContextV2}, Type: TypeEnvelopedCredential, ID: EnvelopePrefix + credentialJWT}
}

// JWT returns the enveloped vc+jwt.
func (e Enveloped) JWT() (string, error) {
	if e.Type != TypeEnvelopedCredential {
		return "", reason.New(reason.Malformed, "vc: verifiableCredential is not an EnvelopedVerifiableCredential")
	}
	tok, ok := strings.CutPrefix(e.ID, EnvelopePrefix)
	if !ok || tok == "" {
		return "", reason.New(reason.Malformed, "vc: enveloped credential id is not a data:application/vc+jwt URL")
	}
	return tok, nil
}

// Audience is the JWT aud claim: one string or an array of strings. It is
// written as a string when it has one member.
type Audience []string

// MarshalJSON writes one audience as a string.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// Contains reports whether aud is one of the audiences.
func (a Audience) Contains(aud string) bool {
	for _, x := range a {
		if x == aud {
			return true
		}
	}
	return false
}

// Validate checks the presentation's structure: VC 2.0 context, the
// VerifiablePresentation type, a holder or iss (equal when both are set),
// and well-formed envelopes.
func (p *Presentation) Validate() error {
	if err := credcheck.CheckBase(p.Context, p.Type, TypeVerifiablePresentation); err != nil {
		return err
	}
	if p.Holder == "" && p.Iss == "" {
		return reason.New(reason.Malformed, "vc: presentation has neither holder nor iss")
	}
	if p.Holder != "" && p.Iss != "" && p.Holder != p.Iss {
		return reason.New(reason.Malformed, "vc: iss claim disagrees with holder")
	}
	for _, e := range p.VerifiableCredential {
		if _, err := e.JWT(); err != nil {
			return err
		}
	}
	return nil
}

// HolderDID returns the holder, or iss when there is no holder member.
func (p *Presentation) HolderDID() string {
	if p.Holder != "" {
		return p.Holder
	}
	return p.Iss
}

// DecodePresentation decodes and validates a presentation payload.
func DecodePresentation(payload []byte) (*Presentation, error) {
	return decodePresentation(payload, string(payload))
}

// decodePresentation is DecodePresentation for a payload also given as a
// string, whose memory the presentation's strings share when the fast path
// decodes it: ParsePresentation passes the token's decoded payload, which
// is not written after jws.Parse, without copying it.
func decodePresentation(payload []byte, s string) (*Presentation, error) {
	// See DecodeCredential: the fast path or, failing that, encoding/json.
	p, ok := fastDecodePresentation(s)
	if !ok {
		p = new(Presentation)
		if err := decodeJSON(payload, p, presentationNames); err != nil {
			return nil, err
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
