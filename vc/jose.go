package vc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/zerocopy"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc/jws"
)

// Signer makes JWS signatures; see jws.Signer. The keystore's signers and
// KeySigner implement it.
type Signer = jws.Signer

// KeyResolver finds the public key for a DID URL kid, checking that it is a
// verification method of its DID for the given relationship. did.MultiResolver
// implements it.
type KeyResolver interface {
	ResolveKey(ctx context.Context, kid string, rel did.Relationship) (crypto.PublicKey, error)
}

// SignCredential signs c as a vc+jwt. It sets the registered claims from the
// data model (iss, sub, jti, exp; iat = now) and validates c first.
func SignCredential(s Signer, c *Credential, now time.Time) (string, error) {
	payload, err := EncodeCredential(c, now)
	if err != nil {
		return "", err
	}
	return SignCredentialPayload(s, c.Issuer.ID, payload)
}

// SignCredentialPayload signs an encoded credential (from EncodeCredential)
// as a vc+jwt; the issuer uses it to validate the exact bytes against the
// JSON Schema before signing them.
func SignCredentialPayload(s Signer, issuer string, payload []byte) (string, error) {
	if did, err := jws.KidDID(s.KeyID()); err != nil || did != issuer {
		return "", fmt.Errorf("vc: signer kid %q is not a key of issuer %q", s.KeyID(), issuer)
	}
	return jws.Sign(s, TypCredential, payload)
}

// EncodeCredential sets the registered claims of c from its data model
// (iss, sub, jti, exp; iat = now), validates it and returns its JSON.
func EncodeCredential(c *Credential, now time.Time) ([]byte, error) {
	c.Iss = c.Issuer.ID
	c.Sub = c.CredentialSubject.ID
	c.Jti = c.ID
	c.Iat = now.Unix()
	c.Exp = 0
	if c.ValidUntil != nil {
		c.Exp = c.ValidUntil.Unix()
	}
	c.Nbf = 0
	if err := c.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("vc: encode credential: %w", err)
	}
	return payload, nil
}

// SignPresentation signs p as a vp+jwt with the holder's key. It sets iss to
// the holder and fills @context and type when empty.
func SignPresentation(s Signer, p *Presentation) (string, error) {
	if len(p.Context) == 0 {
		p.Context = []string{ContextV2}
	}
	if len(p.Type) == 0 {
		p.Type = []string{TypeVerifiablePresentation}
	}
	if p.Holder == "" {
		p.Holder = p.Iss
	}
	p.Iss = p.Holder
	if err := p.Validate(); err != nil {
		return "", err
	}
	if did, err := jws.KidDID(s.KeyID()); err != nil || did != p.Holder {
		return "", fmt.Errorf("vc: signer kid %q is not a key of holder %q", s.KeyID(), p.Holder)
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("vc: encode presentation: %w", err)
	}
	return jws.Sign(s, TypPresentation, payload)
}

// ParsedCredential is a credential whose JWS has been parsed and whose
// payload is decoded and structurally valid, but whose signature has not
// yet been checked.
type ParsedCredential struct {
	Credential *Credential
	Token      *jws.Token
}

// ParseCredential parses a vc+jwt without verifying its signature: size,
// alg, typ, payload structure, registered claims against the data model,
// and that the kid is a key of the issuer.
func ParseCredential(token string) (*ParsedCredential, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return nil, err
	}
	if err := checkTyp(t.Header.Typ, TypCredential); err != nil {
		return nil, err
	}
	c, err := DecodeCredential(t.Payload)
	if err != nil {
		return nil, err
	}
	kdid, err := jws.KidDID(t.Header.Kid)
	if err != nil {
		return nil, err
	}
	if kdid != c.Issuer.ID {
		return nil, reason.New(reason.UnknownKey, "vc: kid is not a key of the issuer")
	}
	return &ParsedCredential{Credential: c, Token: t}, nil
}

// Verify resolves the kid as an assertionMethod of the issuer and checks
// the signature.
func (p *ParsedCredential) Verify(ctx context.Context, keys KeyResolver) error {
	return verifyToken(ctx, p.Token, keys, did.AssertionMethod)
}

// VerifyCredential parses a vc+jwt and verifies its signature. It does not
// check trust in the issuer, the validity window or status: those are the
// verifier's.
func VerifyCredential(ctx context.Context, token string, keys KeyResolver) (*Credential, error) {
	p, err := ParseCredential(token)
	if err != nil {
		return nil, err
	}
	if err := p.Verify(ctx, keys); err != nil {
		return nil, err
	}
	return p.Credential, nil
}

// ParsedPresentation is a parsed, not yet verified, vp+jwt.
type ParsedPresentation struct {
	Presentation *Presentation
	Token        *jws.Token
}

// ParsePresentation parses a vp+jwt without verifying its signature; the
// kid must be a key of the holder.
func ParsePresentation(token string) (*ParsedPresentation, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return nil, err
	}
	if err := checkTyp(t.Header.Typ, TypPresentation); err != nil {
		return nil, err
	}
	// t is ours until it is returned, and nothing writes a Token's
	// payload (see jws.Token): the presentation's strings can share it.
	p, err := decodePresentation(t.Payload, zerocopy.String(t.Payload))
	if err != nil {
		return nil, err
	}
	kdid, err := jws.KidDID(t.Header.Kid)
	if err != nil {
		return nil, err
	}
	if kdid != p.HolderDID() {
		return nil, reason.New(reason.UnknownKey, "vc: kid is not a key of the holder")
	}
	if err := localHolder(kdid); err != nil {
		return nil, err
	}
	return &ParsedPresentation{Presentation: p, Token: t}, nil
}

// localHolder refuses a holder whose keys cannot be resolved locally.
// Holders (agents and principals) are did:key or did:jwk: a presentation
// is checked before anything about its sender is known, so resolving its
// kid must never cause network I/O (a did:web holder would make any
// verifier fetch whatever host the sender names).
func localHolder(holder string) error {
	if strings.HasPrefix(holder, "did:key:") || strings.HasPrefix(holder, "did:jwk:") {
		return nil
	}
	return reason.New(reason.UnknownKey, "vc: a holder must be a did:key or did:jwk (resolved locally)")
}

// Verify resolves the kid as an authentication method of the holder and
// checks the signature. The holder must be a did:key or did:jwk.
func (p *ParsedPresentation) Verify(ctx context.Context, keys KeyResolver) error {
	kdid, err := jws.KidDID(p.Token.Header.Kid)
	if err != nil {
		return err
	}
	if err := localHolder(kdid); err != nil {
		return err
	}
	return verifyToken(ctx, p.Token, keys, did.Authentication)
}

// VerifyPresentation parses a vp+jwt and verifies the holder's signature. It
// checks neither audience, freshness nor the enveloped credentials: those
// are the verifier's.
func VerifyPresentation(ctx context.Context, token string, keys KeyResolver) (*Presentation, error) {
	p, err := ParsePresentation(token)
	if err != nil {
		return nil, err
	}
	if err := p.Verify(ctx, keys); err != nil {
		return nil, err
	}
	return p.Presentation, nil
}

// VerifyJWT parses a compact JWS of the given typ, resolves its kid for rel
// and verifies the signature, returning the token for the caller to decode.
// The caller must still check that the kid's DID is the payload's issuer.
func VerifyJWT(ctx context.Context, token, typ string, keys KeyResolver, rel did.Relationship) (*jws.Token, error) {
	t, err := jws.Parse(token)
	if err != nil {
		return nil, err
	}
	if err := checkTyp(t.Header.Typ, typ); err != nil {
		return nil, err
	}
	if err := verifyToken(ctx, t, keys, rel); err != nil {
		return nil, err
	}
	return t, nil
}

func verifyToken(ctx context.Context, t *jws.Token, keys KeyResolver, rel did.Relationship) error {
	pub, err := keys.ResolveKey(ctx, t.Header.Kid, rel)
	if err != nil {
		if _, ok := reason.CodeOf(err); ok && !errors.Is(err, reason.Malformed) {
			return err
		}
		return reason.Wrap(reason.UnknownKey, "vc: kid does not resolve", err)
	}
	return t.Verify(pub)
}

func checkTyp(got, want string) error {
	if got == want || got == "application/"+want {
		return nil
	}
	return reason.New(reason.Malformed, fmt.Sprintf("vc: typ is %q, want %q", got, want))
}

// KeySigner signs with an in-process private key: the agent's own key (the
// CLI's present command, examples, tests). Issuers sign through the
// keystore instead.
type KeySigner struct {
	alg string
	kid string
	key crypto.Signer
}

// NewKeySigner returns a signer for an Ed25519 or P-256 private key with the
// given kid (a DID URL).
func NewKeySigner(key crypto.Signer, kid string) (*KeySigner, error) {
	switch k := key.Public().(type) {
	case ed25519.PublicKey:
		return &KeySigner{alg: jws.AlgEdDSA, kid: kid, key: key}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("vc: only P-256 ECDSA keys are supported")
		}
		return &KeySigner{alg: jws.AlgES256, kid: kid, key: key}, nil
	default:
		return nil, fmt.Errorf("vc: unsupported key type %T", k)
	}
}

// Alg returns the JWS algorithm.
func (s *KeySigner) Alg() string { return s.alg }

// KeyID returns the kid.
func (s *KeySigner) KeyID() string { return s.kid }

// Public returns the public key.
func (s *KeySigner) Public() crypto.PublicKey { return s.key.Public() }

// Sign signs a JWS signing input.
func (s *KeySigner) Sign(input []byte) ([]byte, error) {
	if s.alg == jws.AlgEdDSA {
		return s.key.Sign(rand.Reader, input, crypto.Hash(0))
	}
	d := sha256.Sum256(input)
	der, err := s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) != 0 {
		return nil, errors.New("vc: ECDSA signer returned a malformed signature")
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}
