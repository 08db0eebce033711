package issuer

import (
	"errors"
	"fmt"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/store"
)

// Code is a stable error code of the issuer API. Beside the codes below,
// authentication, proof-of-control and refresh failures carry the
// verification reason codes of package reason (Code(reason.Revoked), …).
// Codes go on the wire: never rename one.
type Code string

// Error codes of the issuer API.
const (
	CodeInvalidRequest      Code = "invalid_request"
	CodeTooLarge            Code = "too_large"
	CodeUnknownPrincipal    Code = "unknown_principal"
	CodeForbidden           Code = "forbidden"
	CodeScopeExceedsCeiling Code = "scope_exceeds_ceiling"
	CodeAudienceNotAllowed  Code = "audience_not_allowed"
	CodeLifetimeExceeds     Code = "lifetime_exceeds_bound"
	CodeAgentExists         Code = "agent_exists"
	CodeUnknownAgent        Code = "unknown_agent"
	CodeUnknownCredential   Code = "unknown_credential"
	CodeAgentRetired        Code = "agent_retired"
	CodeRegistrationEnded   Code = "registration_ended"
	CodePrincipalExists     Code = "principal_exists"
	CodeIrreversible        Code = "irreversible"
	CodeLastAdmin           Code = "last_admin"
	// CodePrincipalRemoved: the principal that created the agent was
	// removed; the agent cannot refresh.
	CodePrincipalRemoved Code = "principal_removed"
	// CodeRateLimited: too many refreshes of one agent; Error.RetryAfter
	// says when the next is allowed.
	CodeRateLimited Code = "rate_limited"
	// CodeProofPrincipal: the proof of control does not name the calling
	// principal in its "for" claim.
	CodeProofPrincipal Code = "proof_principal_mismatch"
	// CodeRecordTampered: a stored record failed its integrity check (it
	// was edited or forged in the database without the master key); the
	// operation is refused rather than run on it.
	CodeRecordTampered Code = "record_tampered"
)

// Kind classifies a refusal the way a protocol status would, without the
// domain knowing the protocol: the HTTP server maps each Kind to one status
// in one table. The same Code can come with different kinds (a malformed
// presentation is Unauthenticated when it authenticates a principal and
// Invalid when it is a proof of control), which is why the kind travels
// with the error.
type Kind uint8

// Kinds of refusal.
const (
	// KindInvalid: the request is malformed or out of bounds.
	KindInvalid Kind = iota + 1
	// KindUnauthenticated: the caller could not be authenticated.
	KindUnauthenticated
	// KindForbidden: the caller may not do this, or the credential it
	// presents no longer allows it.
	KindForbidden
	// KindNotFound: no such principal, agent or credential (or none the
	// caller may see).
	KindNotFound
	// KindConflict: the current state forbids it (already exists, retired,
	// revoked, last admin).
	KindConflict
	// KindTooLarge: the request body is over its bound.
	KindTooLarge
	// KindRateLimited: too many requests; retry after Error.RetryAfter.
	KindRateLimited
	// KindIntegrity: stored state failed its integrity check; the
	// operation fails closed. It is the server's fault, not the caller's.
	KindIntegrity
)

var kindNames = [...]string{KindInvalid: "invalid", KindUnauthenticated: "unauthenticated", KindForbidden: "forbidden",
	KindNotFound: "not_found", KindConflict: "conflict", KindTooLarge: "too_large",
	KindRateLimited: "rate_limited", KindIntegrity: "integrity"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Error is a refused issuer operation: its kind, a stable code and a detail
// safe to show the caller. Every Error an operation returns has been
// written to the audit trail as a denial.
type Error struct {
	Kind   Kind
	Code   Code
	Detail string
	Err    error
	// RetryAfter, for KindRateLimited, is how long until a retry can
	// succeed.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := "issuer: " + string(e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Refusal returns err's *Error, if it is a refusal.
func Refusal(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// wrapInternal passes a refusal (*Error) through as it is and gives any
// other error, an internal failure of op, the "issuer: op:" prefix.
func wrapInternal(err error, op string) error {
	if _, ok := Refusal(err); ok {
		return err
	}
	return fmt.Errorf("issuer: %s: %w", op, err)
}

func fail(kind Kind, code Code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Detail: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return fail(KindInvalid, CodeInvalidRequest, format, args...)
}

// InvalidRequest is the refusal of a request that is not well formed, for
// adapters that decode requests before the issuer sees them.
func InvalidRequest(detail string) *Error {
	return &Error{Kind: KindInvalid, Code: CodeInvalidRequest, Detail: detail}
}

// TooLarge is the refusal of a request body over limit bytes.
func TooLarge(limit int64) *Error {
	return &Error{Kind: KindTooLarge, Code: CodeTooLarge, Detail: fmt.Sprintf("body over %d bytes", limit)}
}

// fromReason turns a verification failure into a refusal of the given
// kind. An error without a reason code is not a refusal: it is returned as
// it is (an internal failure).
func fromReason(err error, kind Kind) error {
	// A refusal that only says the store could not record what the check
	// needs (a full disk under the replay journal) is no verdict on the
	// caller: it stays an unavailability, which the server answers 503.
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var re *reason.Error
	if errors.As(err, &re) {
		return &Error{Kind: kind, Code: Code(re.Code), Detail: re.Detail}
	}
	if c, ok := reason.CodeOf(err); ok {
		return &Error{Kind: kind, Code: Code(c)}
	}
	return err
}
