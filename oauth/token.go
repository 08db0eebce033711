package oauth

import (
	"crypto"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/strictjson"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// Token types and URIs.
const (
	// AccessTokenType is the typ of an access token (RFC 9068 §2.1).
	AccessTokenType = "at+jwt"
	// ClientAssertionType is the client_assertion_type of private_key_jwt
	// (RFC 7523 §2.2).
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// GrantClientCredentials and GrantTokenExchange are the grant types
	// the token endpoint serves.
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is RFC 8693's URI of an access token.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeVP is the subject_token_type of an agentid presentation
	// (a vp+jwt enveloping the agent's credential) in a token exchange.
	// RFC 8693 §3 lets a profile define its own URIs; this one is
	// agentid's.
	TokenTypeVP = "urn:agentid:params:oauth:token-type:vp+jwt"
	// DefaultTokenTTL is an access token's lifetime.
	DefaultTokenTTL = 5 * time.Minute
	// MaxAssertionLifetime bounds a client assertion's exp - now.
	MaxAssertionLifetime = 5 * time.Minute
)

// Confirmation is the cnf claim of a DPoP-bound token (RFC 9449 §6.1).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// Actor is the act claim (RFC 8693 §4.1): who acts for the subject.
type Actor struct {
	Subject string `json:"sub"`
	Actor   *Actor `json:"act,omitempty"`
}

// AccessToken is the payload of an agentid access token: an RFC 9068 JWT
// (typ at+jwt) whose claims carry what the agent's credential guarantees.
// CredentialID and CredentialStatus are agentid's claims (RFC 7519 §4.3
// private names, documented in docs/oauth.md): the credential the token
// was derived from and its W3C Bitstring Status List entries, so that a
// resource server sees a revocation or suspension of the credential
// offline, through the same status lists and change feed as for
// presentations.
type AccessToken struct {
	Issuer           string           `json:"iss"`
	Subject          string           `json:"sub"`
	ClientID         string           `json:"client_id"`
	Audience         vc.Audience      `json:"aud"`
	Scope            string           `json:"scope,omitempty"`
	JTI              string           `json:"jti"`
	IssuedAt         int64            `json:"iat"`
	Expiry           int64            `json:"exp"`
	Confirmation     *Confirmation    `json:"cnf,omitempty"`
	CredentialID     string           `json:"credential_id"`
	CredentialStatus []vc.StatusEntry `json:"credential_status"`
	// CredentialIssuer is the issuer of the credential when it is not the
	// token's issuer (a token exchange of another trusted issuer's
	// credential): its status entries are that issuer's lists.
	CredentialIssuer string `json:"credential_issuer,omitempty"`
	// Act is RFC 8693's actor claim of a sub-agent's token: the agent
	// (client_id) outermost, its ancestors below the root nested, the
	// root agent being sub. See [Delegated].
	Act *Actor `json:"act,omitempty"`
	// Delegation is agentid's: the credential's delegation chain as it
	// is (credentialSubject.delegation: root first, each link the
	// credential an ancestor delegated with and its DID), which act
	// cannot carry (RFC 8693 §4.1 makes act's members identify the actor
	// and nothing else).
	Delegation []vc.DelegationLink `json:"delegation,omitempty"`
}

// Scopes splits the scope claim.
func (t *AccessToken) Scopes() []string { return strings.Fields(t.Scope) }

var accessTokenNames = strictjson.NewVocab(AccessToken{})

// SignAccessToken signs t as an at+jwt with s (the issuer's key; its kid
// is a DID URL of the issuer's did:web).
func SignAccessToken(s jws.Signer, t *AccessToken) (string, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("oauth: access token: %w", err)
	}
	return jws.Sign(s, AccessTokenType, b)
}

// ParseAccessToken decodes an access token without verifying it: the
// header (alg allowlisted, typ at+jwt) and the claims. Use
// [VerifyAccessToken] to trust it.
func ParseAccessToken(token string) (*jws.Token, *AccessToken, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return nil, nil, err
	}
	if t.Header.Typ != AccessTokenType && t.Header.Typ != "application/"+AccessTokenType {
		return nil, nil, reason.New(reason.Malformed, "oauth: token typ is not at+jwt")
	}
	// The fast path accepts only what the strict check would (no
	// duplicate, no case-folded or unknown name, printable ASCII): the
	// check runs on what it leaves to encoding/json.
	at, ok := fastDecodeAccessToken(t.Payload)
	if !ok {
		if err := strictjson.Check(t.Payload, accessTokenNames); err != nil {
			return nil, nil, reason.Wrap(reason.Malformed, "oauth: token claims are ambiguous JSON", err)
		}
		at = new(AccessToken)
		if err := json.Unmarshal(t.Payload, at); err != nil {
			return nil, nil, reason.Wrap(reason.Malformed, "oauth: token claims", err)
		}
	}
	if at.Issuer == "" || at.Subject == "" || at.ClientID == "" || len(at.Audience) == 0 || at.JTI == "" ||
		at.IssuedAt == 0 || at.Expiry == 0 {
		return nil, nil, reason.New(reason.Malformed, "oauth: token lacks a claim RFC 9068 requires")
	}
	if err := at.checkDelegation(); err != nil {
		return nil, nil, err
	}
	return t, at, nil
}

// VerifyAccessToken parses a token, checks that its kid is a key of
// issuerDID (resolved through keys for assertionMethod) and verifies the
// signature. It checks no time, audience or status: the caller does.
func VerifyAccessToken(token string, issuerDID string, key func(kid string) (crypto.PublicKey, error)) (*AccessToken, error) {
	t, at, err := ParseAccessToken(token)
	if err != nil {
		return nil, err
	}
	if err := VerifyParsed(t, issuerDID, key); err != nil {
		return nil, err
	}
	return at, nil
}

// VerifyParsed is VerifyAccessToken for a token ParseAccessToken already
// decoded: the kid must be a key of issuerDID, and the signature verify.
func VerifyParsed(t *jws.Token, issuerDID string, key func(kid string) (crypto.PublicKey, error)) error {
	kidDID, err := jws.KidDID(t.Header.Kid)
	if err != nil || kidDID != issuerDID {
		return reason.New(reason.UnknownKey, "oauth: token kid is not a key of the issuer")
	}
	pub, err := key(t.Header.Kid)
	if err != nil {
		if _, ok := reason.CodeOf(err); ok {
			return err
		}
		return reason.Wrap(reason.UnknownKey, "oauth: token kid does not resolve", err)
	}
	return t.Verify(pub)
}

// ClientAssertion is the claims of a private_key_jwt client assertion
// (RFC 7523 §3).
type ClientAssertion struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  vc.Audience `json:"aud"`
	JTI       string      `json:"jti"`
	Expiry    int64       `json:"exp"`
	IssuedAt  int64       `json:"iat,omitempty"`
	NotBefore int64       `json:"nbf,omitempty"`
}

var assertionNames = strictjson.NewVocab(ClientAssertion{})

// NewClientAssertion signs a private_key_jwt assertion for the agent
// whose key s holds: iss = sub = clientID (its DID), aud = audience (the
// token endpoint or the issuer URL), a fresh jti, 60 seconds of life.
func NewClientAssertion(s jws.Signer, clientID, audience string, now time.Time) (string, error) {
	b, err := json.Marshal(ClientAssertion{Issuer: clientID, Subject: clientID, Audience: vc.Audience{audience},
		JTI: randomID(), IssuedAt: now.Unix(), Expiry: now.Add(60 * time.Second).Unix()})
	if err != nil {
		return "", err
	}
	return jws.Sign(s, "JWT", b)
}

// AssertionCheck is what a client assertion is checked against.
type AssertionCheck struct {
	// ClientID, when the request names one, must be iss and sub.
	ClientID string
	// Audiences are the accepted aud values (the token endpoint URL, the
	// issuer identifier).
	Audiences []string
	Now       time.Time
	// Skew is the clock skew allowed (DefaultSkew when zero).
	Skew time.Duration
}

// CheckClientAssertion verifies a private_key_jwt assertion whose client
// is an agent DID (did:key or did:jwk): the key is the DID's own, named by
// a kid of that DID or, with no kid, taken from the DID (what the MCP
// TypeScript SDK sends). It checks iss = sub (= ClientID), aud, exp (at
// most MaxAssertionLifetime ahead), iat and nbf, and returns the claims;
// the caller records the jti. Every refusal is invalid_client; one made
// after the signature verified returns the claims beside the error, so
// that the refusal can name the client.
func CheckClientAssertion(assertion string, c AssertionCheck) (*ClientAssertion, error) {
	bad := func(r reason.Code, d string) error { return Errorf(InvalidClient, r, d) }
	skew := c.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	t, err := jws.Parse(assertion)
	if err != nil {
		code, _ := reason.CodeOf(err)
		return nil, bad(code, "client assertion is not an accepted JWS (EdDSA or ES256)")
	}
	if t.Header.Typ != "" && t.Header.Typ != "JWT" && t.Header.Typ != "application/JWT" {
		return nil, bad(reason.Malformed, "client assertion typ must be JWT or absent")
	}
	var a ClientAssertion
	if strictjson.Check(t.Payload, assertionNames) != nil || json.Unmarshal(t.Payload, &a) != nil {
		return nil, bad(reason.Malformed, "client assertion claims are not a JSON object")
	}
	if a.Issuer == "" || a.Issuer != a.Subject {
		return nil, bad(reason.Malformed, "client assertion iss and sub must both be the client id")
	}
	if c.ClientID != "" && c.ClientID != a.Issuer {
		return nil, bad(reason.HolderMismatch, "client assertion is not for client_id")
	}
	var pub crypto.PublicKey
	switch {
	case strings.HasPrefix(a.Issuer, "did:key:"):
		pub, err = did.PublicKeyFromKey(a.Issuer)
	case strings.HasPrefix(a.Issuer, "did:jwk:"):
		pub, err = did.PublicKeyFromJWK(a.Issuer)
	default:
		return nil, bad(reason.UnknownKey, "client id must be a did:key or did:jwk")
	}
	if err != nil {
		return nil, bad(reason.UnknownKey, "client id is not a valid DID")
	}
	if t.Header.Kid != "" {
		if kd, err := jws.KidDID(t.Header.Kid); err != nil || kd != a.Issuer {
			return nil, bad(reason.UnknownKey, "client assertion kid is not a key of the client")
		}
	}
	if err := t.Verify(pub); err != nil {
		code, _ := reason.CodeOf(err)
		return nil, bad(code, "client assertion signature does not verify with the client's key")
	}
	ok := false
	for _, want := range c.Audiences {
		if a.Audience.Contains(want) {
			ok = true
		}
	}
	if !ok {
		return &a, bad(reason.WrongAudience, "client assertion aud is neither the token endpoint nor the issuer")
	}
	if a.JTI == "" || len(a.JTI) > 256 {
		return &a, bad(reason.Malformed, "client assertion needs a jti")
	}
	if a.Expiry == 0 {
		return &a, bad(reason.Malformed, "client assertion needs exp")
	}
	exp := time.Unix(a.Expiry, 0)
	if c.Now.After(exp.Add(skew)) {
		return &a, bad(reason.Expired, "client assertion expired")
	}
	if exp.Sub(c.Now) > MaxAssertionLifetime+skew {
		return &a, bad(reason.Malformed, "client assertion lives longer than 5 minutes")
	}
	if a.IssuedAt != 0 && time.Unix(a.IssuedAt, 0).After(c.Now.Add(skew)) {
		return &a, bad(reason.NotYetValid, "client assertion iat is in the future")
	}
	if a.NotBefore != 0 && time.Unix(a.NotBefore, 0).After(c.Now.Add(skew)) {
		return &a, bad(reason.NotYetValid, "client assertion is not yet valid")
	}
	return &a, nil
}
