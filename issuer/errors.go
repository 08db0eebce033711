package issuer

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/agentid/agentid/reason"
)

// Error codes of the issuer API, beside the verification reason codes
// (package reason) that authentication and refresh failures carry.
const (
	CodeInvalidRequest      = "invalid_request"
	CodeUnknownPrincipal    = "unknown_principal"
	CodeForbidden           = "forbidden"
	CodeScopeExceedsCeiling = "scope_exceeds_ceiling"
	CodeAudienceNotAllowed  = "audience_not_allowed"
	CodeLifetimeExceeds     = "lifetime_exceeds_bound"
	CodeAgentExists         = "agent_exists"
	CodeUnknownAgent        = "unknown_agent"
	CodeUnknownCredential   = "unknown_credential"
	CodeAgentRetired        = "agent_retired"
	CodeRegistrationEnded   = "registration_ended"
	CodePrincipalExists     = "principal_exists"
	CodeIrreversible        = "irreversible"
	CodeLastAdmin           = "last_admin"
)

// Error is a refused issuer operation: an HTTP status, a stable code and a
// detail safe to show the caller.
type Error struct {
	Status int
	Code   string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "issuer: " + e.Code
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func fail(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Detail: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return fail(http.StatusBadRequest, CodeInvalidRequest, format, args...)
}

// fromReason turns a verification failure into an issuer error: 401 for
// authentication failures, 403 for a credential that may not be refreshed.
func fromReason(err error, status int) *Error {
	var re *reason.Error
	if errors.As(err, &re) {
		return &Error{Status: status, Code: string(re.Code), Detail: re.Detail}
	}
	if c, ok := reason.CodeOf(err); ok {
		return &Error{Status: status, Code: string(c)}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Err: err}
}

// Status returns the HTTP status and code for any error from this package.
func Status(err error) (int, string, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Code, e.Detail
	}
	if c, ok := reason.CodeOf(err); ok {
		var re *reason.Error
		d := ""
		if errors.As(err, &re) {
			d = re.Detail
		}
		return http.StatusUnauthorized, string(c), d
	}
	return http.StatusInternalServerError, "internal", ""
}
