// Package api holds the wire types of the agentid HTTP API: the JSON bodies
// that an agentid server (`agentid serve`) accepts and answers, for
// programs that call it without the server's internals.
//
// # Entry points
//
// Issuer API (a principal's signed request, see package client):
//
//   - POST /v1/agents: [IssueRequest] → [Issued]
//   - POST /v1/credentials/refresh (the agent itself) → [Issued]
//   - GET /v1/agents → [AgentList]; GET /v1/agents/{did} and
//     POST /v1/agents/{did}/retire → [Agent]
//   - POST /v1/credentials/{id}/{revoke,suspend,reinstate} → [Credential]
//   - GET and POST /v1/principals → [PrincipalList], [Principal]
//   - GET /v1/keys → [KeyList]; POST /v1/keys/rotate → [KeyInfo]
//   - GET /v1/audit → [EventList] (audit.Event); /v1/audit/summary →
//     audit.Summary; /v1/audit/verify → audit.VerifyReport;
//     POST /v1/audit/events → [Accepted]
//
// Public endpoints: GET /v1/nonce → [NonceResponse]; POST /v1/verify:
// [VerifyRequest] → [VerifyResponse]. Every error answer is a [Problem]
// (RFC 9457, application/problem+json) whose Code callers branch on.
//
// [NewVerifyResponse] maps a verifier outcome to a [VerifyResponse], so a
// program that verifies locally answers exactly what the verifier service
// would:
//
//	res, err := v.Verify(ctx, vp, req)
//	out, err := api.NewVerifyResponse(res, err)
//	if err != nil {
//		return err // no reason code: an internal failure, not a refusal
//	}
//	json.NewEncoder(w).Encode(out)
//
// # Caveats
//
// The JSON encoding of these types is the contract: field names and
// omitempty rules match the server byte for byte and are not renamed.
// [Duration] is written as a Go duration string ("15m0s") and read from one
// or from a number of seconds. Codes are strings that may grow: treat an
// unknown code as a refusal of an unknown kind, never as success.
package api
