package api

import "github.com/agentid/agentid/audit"

// The list envelopes: every list is answered inside an object, so that
// members can be added without breaking callers.

// AgentList is the answer of GET /v1/agents.
//
// It is one page, in the order of the agents' DIDs: Next, when set, is the
// cursor of the following page (GET /v1/agents?cursor=<next>); it is
// absent on the last page.
type AgentList struct {
	Agents []Agent `json:"agents"`
	Next   string  `json:"next,omitempty"`
}

// PrincipalList is the answer of GET /v1/principals.
type PrincipalList struct {
	Principals []Principal `json:"principals"`
}

// KeyList is the answer of GET /v1/keys.
type KeyList struct {
	Keys []KeyInfo `json:"keys"`
}

// EventList is the answer of GET /v1/audit (without format=jsonl).
type EventList struct {
	Events []audit.Event `json:"events"`
}

// NonceResponse is the answer of GET /v1/nonce.
type NonceResponse struct {
	Nonce string `json:"nonce"`
}

// Accepted is the answer of POST /v1/audit/events: how many events were
// appended (all of them, or the request fails).
type Accepted struct {
	Accepted int `json:"accepted"`
}

// SignedHead is the answer of GET /v1/audit/head: the audit chain's head
// signed by the issuer key (Token, a compact JWS of typ
// "agentid-audit-head+jwt"), and the head it vouches for. Keep Token
// outside the issuer and check the log against it with
// `agentid audit verify --head`.
type SignedHead struct {
	Token string     `json:"token"`
	Head  audit.Head `json:"head"`
}
