package api

import (
	"errors"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
)

// NewVerifyResponse maps the outcome of [verifier.Verifier.Verify] to the
// answer of POST /v1/verify.
//
// A result (err == nil) is Valid with the agent, issuer, scopes, owner,
// credential id and expiry. An error that carries a reason code (a
// *reason.Error, or a bare reason.Code) is a refusal: Valid false, with
// Error holding the code and the *reason.Error's detail. Any other error is
// returned as is: it is a failure of the verifier (its audit sink, say), not
// a decision about the presentation, and its text may hold internals, so it
// must not be sent to the caller.
func NewVerifyResponse(res *verifier.Result, err error) (VerifyResponse, error) {
	if err != nil {
		var re *reason.Error
		if errors.As(err, &re) {
			return VerifyResponse{Error: &VerifyError{Code: string(re.Code), Detail: re.Detail}}, nil
		}
		if c, ok := reason.CodeOf(err); ok {
			return VerifyResponse{Error: &VerifyError{Code: string(c)}}, nil
		}
		return VerifyResponse{}, err
	}
	if res == nil {
		return VerifyResponse{}, errors.New("api: verification returned neither a result nor an error")
	}
	exp := res.ExpiresAt
	return VerifyResponse{Valid: true, Agent: res.Agent, Issuer: res.Issuer, Scopes: res.Scopes,
		Owner: res.Owner, CredentialID: res.CredentialID, ExpiresAt: &exp,
		DelegatedBy: res.DelegatedBy, Delegation: res.Delegation, OnBehalfOf: res.OnBehalfOf}, nil
}
