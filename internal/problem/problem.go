// Package problem writes RFC 9457 problem details with agentid's "code"
// member, the stable reason or error code callers branch on.
package problem

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/agentid/agentid/reason"
)

// Details is an RFC 9457 problem details object.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// TypeBase prefixes problem type URIs: TypeBase + code.
const TypeBase = "https://agentid.dev/problems/"

// New returns problem details for status and code.
func New(status int, code, detail string) Details {
	return Details{Type: TypeBase + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// Write sends problem details as application/problem+json.
func Write(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(New(status, code, detail))
}

// UnavailableRetryAfter is the Retry-After, in seconds, of a 503
// unavailable answer: the storage (or the database) fails underneath, and
// the operation was not done.
const UnavailableRetryAfter = "10"

// WriteUnavailable sends 503 "unavailable" with UnavailableRetryAfter.
func WriteUnavailable(w http.ResponseWriter, detail string) {
	w.Header().Set("Retry-After", UnavailableRetryAfter)
	Write(w, http.StatusServiceUnavailable, "unavailable", detail)
}

// FromError returns the code and the safe detail of err: its reason code
// and detail when it carries one, else "internal" with no detail (an
// unexpected error's text may hold internals).
func FromError(err error) (code, detail string) {
	var re *reason.Error
	if errors.As(err, &re) {
		return string(re.Code), re.Detail
	}
	if c, ok := reason.CodeOf(err); ok {
		return string(c), ""
	}
	return "internal", ""
}
