// Package reason defines the stable reason codes that agentid puts on the
// wire when a credential, presentation or request is refused, and the typed
// error that carries them.
//
// Codes are strings, not integers, because they travel in HTTP responses and
// audit records. A code is never renamed once published. Callers branch on
// codes with errors.Is or errors.As, never on message text:
//
//	var e *reason.Error
//	if errors.As(err, &e) && e.Code == reason.Revoked { ... }
//	if errors.Is(err, reason.Revoked) { ... }
package reason

import "errors"

// Code is a stable reason code from the agentid contract. A Code is itself an
// error so that errors.Is(err, reason.Expired) reads naturally.
type Code string

// The reason codes of the contract. Each names the first check that failed.
const (
	// Malformed: the token or document could not be parsed, or a required
	// member is missing or of the wrong type, or it is over the size limit.
	Malformed Code = "malformed"
	// UnsupportedAlg: the JWS alg is not on the allowlist (EdDSA, Ed25519, ES256).
	UnsupportedAlg Code = "unsupported_alg"
	// BadSignature: the signature does not verify under the named key.
	BadSignature Code = "bad_signature"
	// UnknownKey: the kid does not resolve to a usable verification method,
	// or it does not belong to the DID that claims to have signed.
	UnknownKey Code = "unknown_key"
	// UntrustedIssuer: the credential's issuer is not a trusted issuer.
	UntrustedIssuer Code = "untrusted_issuer"
	// Expired: past validUntil / exp (beyond the allowed skew).
	Expired Code = "expired"
	// NotYetValid: before validFrom / iat (beyond the allowed skew).
	NotYetValid Code = "not_yet_valid"
	// WrongAudience: aud is not this verifier, or the credential does not
	// list the audience.
	WrongAudience Code = "wrong_audience"
	// BadNonce: a required nonce is missing, unknown or already used.
	BadNonce Code = "bad_nonce"
	// Replayed: the presentation's jti was seen before within its lifetime.
	Replayed Code = "replayed"
	// RequestMismatch: htm/htu do not match the request, or are missing
	// where the verifier requires them.
	RequestMismatch Code = "request_mismatch"
	// HolderMismatch: the presentation's signer is not the credential subject.
	HolderMismatch Code = "holder_mismatch"
	// Revoked: the credential's revocation bit is set.
	Revoked Code = "revoked"
	// Suspended: the credential's suspension bit is set.
	Suspended Code = "suspended"
	// StatusUnavailable: a status list could not be fetched or checked; the
	// verifier fails closed.
	StatusUnavailable Code = "status_unavailable"
	// InsufficientScope: a requested scope is not granted by the credential.
	InsufficientScope Code = "insufficient_scope"
	// ConstraintViolated: a credential constraint (source network, rate,
	// time window) does not hold for this request.
	ConstraintViolated Code = "constraint_violated"
	// SchemaInvalid: the credential does not validate against its JSON Schema.
	SchemaInvalid Code = "schema_invalid"
)

// Codes lists every code, in the contract's order.
var Codes = []Code{Malformed, UnsupportedAlg, BadSignature, UnknownKey,
	UntrustedIssuer, Expired, NotYetValid, WrongAudience, BadNonce, Replayed,
	RequestMismatch, HolderMismatch, Revoked, Suspended, StatusUnavailable,
	InsufficientScope, ConstraintViolated, SchemaInvalid}

// Error implements error for a bare code.
func (c Code) Error() string { return string(c) }

// Error is a refusal with its reason code. Detail is a short, safe
// explanation for people (never a secret); Err is the underlying cause, if
// any.
type Error struct {
	Code   Code
	Detail string
	Err    error
}

// New returns an *Error with the code and detail.
func New(code Code, detail string) *Error { return &Error{Code: code, Detail: detail} }

// Wrap returns an *Error with the code and detail that wraps err.
func Wrap(code Code, detail string, err error) *Error {
	return &Error{Code: code, Detail: detail, Err: err}
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's code, so that
// errors.Is(err, reason.Revoked) works.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// CodeOf returns the reason code carried by err, and false when err carries
// none.
func CodeOf(err error) (Code, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	var c Code
	if errors.As(err, &c) {
		return c, true
	}
	return "", false
}
