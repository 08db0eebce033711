package oauth

import (
	"errors"
	"net/http"

	"github.com/agentid/agentid/reason"
)

// ErrorCode is an OAuth error code: RFC 6749 §5.2 at the token endpoint,
// RFC 6750 §3.1 at a resource server, RFC 8707 and RFC 9449 §7 and §12.2
// for the extensions. A code is itself an error, so that
// errors.Is(err, oauth.InvalidClient) reads naturally.
type ErrorCode string

// Error codes.
const (
	InvalidRequest       ErrorCode = "invalid_request"
	InvalidClient        ErrorCode = "invalid_client"
	InvalidGrant         ErrorCode = "invalid_grant"
	UnauthorizedClient   ErrorCode = "unauthorized_client"
	UnsupportedGrantType ErrorCode = "unsupported_grant_type"
	InvalidScope         ErrorCode = "invalid_scope"
	// InvalidTarget: a resource (RFC 8707) the client may not get a token
	// for.
	InvalidTarget ErrorCode = "invalid_target"
	// InvalidDPoPProof and UseDPoPNonce: RFC 9449 §12.2.
	InvalidDPoPProof ErrorCode = "invalid_dpop_proof"
	UseDPoPNonce     ErrorCode = "use_dpop_nonce"
	// InvalidToken and InsufficientScope: RFC 6750 §3.1, at a resource
	// server.
	InvalidToken      ErrorCode = "invalid_token"
	InsufficientScope ErrorCode = "insufficient_scope"
	// ServerError and TemporarilyUnavailable: the server failed (its cause
	// is never shown).
	ServerError            ErrorCode = "server_error"
	TemporarilyUnavailable ErrorCode = "temporarily_unavailable"
)

// Error implements error for a bare code.
func (c ErrorCode) Error() string { return string(c) }

// Status is the HTTP status an error with this code is answered with:
// 401 for invalid_client and invalid_token (and use_dpop_nonce at a
// resource server, which the caller decides), 403 for insufficient_scope,
// 5xx for the server's own failures, 400 for the rest.
func (c ErrorCode) Status() int {
	switch c {
	case InvalidClient, InvalidToken:
		return http.StatusUnauthorized
	case InsufficientScope:
		return http.StatusForbidden
	case ServerError:
		return http.StatusInternalServerError
	case TemporarilyUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// Error is a refused OAuth request: the OAuth code, a description safe to
// show the caller (never a secret), and, when one applies, the agentid
// reason code of the check that failed (reason.Replayed, reason.Revoked,
// …), which the audit trail records.
type Error struct {
	Code        ErrorCode
	Description string
	Reason      reason.Code
	Err         error
}

func (e *Error) Error() string {
	s := "oauth: " + string(e.Code)
	if e.Reason != "" {
		s += " (" + string(e.Reason) + ")"
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Unwrap returns the code and the cause, so that errors.Is matches both.
func (e *Error) Unwrap() []error {
	out := []error{e.Code}
	if e.Reason != "" {
		out = append(out, e.Reason)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Errorf returns an *Error with a code, the reason of the check that
// failed ("" for none) and a description.
func Errorf(code ErrorCode, r reason.Code, description string) *Error {
	return &Error{Code: code, Reason: r, Description: description}
}

// AsError returns err's *Error, if it carries one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// ErrorResponse is the JSON body of an OAuth error (RFC 6749 §5.2).
type ErrorResponse struct {
	Error            ErrorCode `json:"error"`
	ErrorDescription string    `json:"error_description,omitempty"`
}
