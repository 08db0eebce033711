// Package issuer is agentid's issuer: it registers principals (admins and
// orchestrators, each with a scope ceiling), registers agents and signs
// their AgentCredentials (W3C VC 2.0 secured as vc+jwt), refreshes,
// suspends, reinstates and revokes them, retires agents, rotates its
// signing key, keeps the inventory and answers for its audit trail.
//
// # Entry points
//
// [New] builds an Issuer over a [store.Store] (the storage seam), a
// keystore holding the keyset [KeyName], a status-list store and an audit
// log. Every operation takes the acting [Principal], obtained from a signed
// request presentation by [Issuer.Authenticate]:
//
//	p, err := is.Authenticate(ctx, presentation, "POST", "https://issuer.example/v1/agents")
//	issued, err := is.Issue(ctx, p, issuer.IssueRequest{Agent: agentDID, Proof: proof,
//		Scopes: []string{"calendar:read"}, Audiences: []string{"https://calendar.example"},
//		Owner: "team-payments", Purpose: "summarise meetings"})
//
// [Issuer.Refresh] is the agent's own call: a presentation of its current
// credential, checked by the same verifier resource APIs use
// (package verifier).
//
// # Delegation and approvals
//
// [Issuer.IssueAsAgent] is an agent asking, with a presentation of its own
// credential, for a narrower sub-agent; the grant must attenuate the
// parent's and the tree's depth stay within the root principal's
// MaxDepth. Sub-agent credentials carry the delegation chain and their
// ancestors' agent-level status entries, so that revoking, suspending or
// retiring an ancestor stops every descendant at any verifier
// (docs/delegation.md). [Issuer.RetireTree] and [Issuer.RetireTask] retire a
// subtree or a job in one transaction. Scopes a principal's NeedApproval
// lists make [Issuer.Issue] record a pending [Approval] instead
// ([Issued.Pending]); [Issuer.Approve] issues it, [Issuer.Deny] refuses it.
//
// # Guarantees
//
// One operation is one store transaction: the records, the status-list
// indexes it allocates or the bits it flips, and its audit event commit
// together and are durable before the call returns. Signing keys are
// obtained before a transaction starts, never by opening a second one
// inside it.
//
// Every refusal is an [*Error] carrying a stable [Code] and a [Kind] (the
// HTTP server maps each kind to one status), and every refusal has been
// written to the audit trail as a denial before it is returned; if that
// write fails, the caller gets the audit failure instead, so that no
// refusal goes unrecorded. Other errors are internal failures.
//
// Who may do what is decided here, not by the HTTP layer: admins do
// everything; orchestrators register agents within their ceiling and
// manage only the agents they created; reading the audit trail is for
// admins.
//
// # Caveats
//
// The in-memory "last seen" times fed by [Issuer.Seen] are lost on
// restart; refreshes record a durable one. Nonces for proofs of control are
// single-use and live 5 minutes; they are MACs under a key held in memory,
// so issuing one stores nothing and a restart invalidates them.
package issuer
