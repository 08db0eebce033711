// Package client is the Go client of the agentid HTTP API: what an
// orchestrator, an admin tool or a resource API calls to register agents,
// manage their credentials, read the audit trail and ask the verifier
// service. The agentid CLI and the examples use it too.
//
// # Entry points
//
// A [Key] is a private key with its did:key: [LoadKey] reads a JWK file (as
// `agentid did keygen` writes), [GenerateKey] makes a new one,
// [KeyFromSigner] wraps a crypto.Signer, and [Key.WriteFile] saves one
// (mode 0600, never overwriting). [Key.Present] signs a vp+jwt.
//
// [New] returns a [Client] for a server URL and the key of a registered
// principal (an admin or an orchestrator). Every call is authenticated by a
// fresh presentation signed by that key: aud = the server URL, htm/htu
// bound to the request, a new jti, valid for 60 s. The typed methods cover
// the API: [Client.Issue] (with [Client.Proof] for the agent's proof of
// control), [Client.Refresh], [Client.Agents], [Client.Agent],
// [Client.Retire], [Client.Revoke], [Client.Suspend], [Client.Reinstate],
// [Client.Principals], [Client.AddPrincipal], [Client.RemovePrincipal],
// [Client.Keys], [Client.RotateKey], [Client.Audit], [Client.AuditExport],
// [Client.AuditSummary], [Client.AuditVerify] and, public,
// [Client.Nonce] and [Client.Verify]. The bodies are the types of package
// [github.com/agentid/agentid/api].
//
//	orch, err := client.LoadKey("orchestrator.jwk")
//	...
//	cl := client.New("https://issuer.example.com", orch)
//	agent, err := client.GenerateKey(client.Ed25519) // the agent's own key
//	...
//	proof, err := cl.Proof(ctx, agent)
//	...
//	issued, err := cl.Issue(ctx, api.IssueRequest{
//		Agent: agent.DID, Proof: proof, Scopes: []string{"calendar:read"},
//		Audiences: []string{"https://calendar.example.com"},
//		Owner: "team-calendar", Purpose: "read the team calendar",
//	})
//	var e *client.Error
//	if errors.As(err, &e) && e.Code == api.CodeScopeExceedsCeiling { ... }
//
// # Errors
//
// An error answer of the server is an [*Error] with the HTTP status and the
// problem's code and detail; branch on Code (an api.Code* constant or a
// reason code), never on the message. Other errors are transport failures
// (*url.Error) or answers the client could not read.
//
// # Caveats
//
//   - JSON answers are read up to [MaxResponseBytes]; a longer answer is an
//     error. [Client.AuditExport] reads pages of at most 16 MiB, however
//     long the export.
//   - The HTTP client's timeout bounds each request, so each page of a
//     paged call, not the whole call: see [WithHTTPClient].
//   - A Key holds its private key in process memory.
//   - Each presentation is single-use: a call that fails in transit is not
//     retried by the client (the server may have seen it).
package client
