// Package console is agentid's admin console: server-rendered HTML pages
// served by the issuer under /console/, for the people who decide whether
// an agent may keep acting.
//
// # Entry points
//
// [New] builds a Console over the issuer's domain API ([issuer.Issuer]),
// the store (for sessions and used sign-in links) and the audit log;
// [Console.Register] adds its routes to the issuer's gin engine. Every
// action calls the same issuer function as the HTTP API, with the signed-in
// principal as actor, so it is authorised and audited exactly as an API
// call would be. [SignInLink] makes the one-time sign-in link that
// `agentid console` prints.
//
// # Sign-in and sessions
//
// There is no password. A sign-in link carries a vp+jwt signed by a
// registered principal's key (no credential), addressed to the console
// (aud = issuer URL + "/console/", htm GET, htu the sign-in URL), living at
// most [SignInLifetime], with a jti recorded durably in the store when it
// is used, so that a link works once, also across restarts. It is checked
// by the same verifier pipeline as every other signature agentid accepts.
// A good link opens a server-side session: a random id in an HttpOnly,
// SameSite=Strict cookie (Secure on https), stored only as its SHA-256,
// bound to the principal, ending after an idle and an absolute timeout or
// at sign-out, which deletes it. The principal is read again on every
// request: removing a principal ends its sessions.
//
// Every state-changing request is a POST carrying the session's
// synchroniser token (CSRF) and must come from the console's own origin
// (Origin and Sec-Fetch-Site are checked; a POST with neither is refused).
// Pages are sent with a Content-Security-Policy without 'unsafe-inline',
// frame-ancestors 'none' and Cache-Control: no-store. Templates are
// html/template: owner, purpose and names are escaped, never executed.
//
// # Delegation and approvals
//
// The agent page shows the agent's chain from its root principal and the
// tree of its sub-agents with their statuses, naming the ancestor that
// stops a sub-agent; a task's page shows the trees of a job; the
// confirmation of a revocation, suspension or retirement counts the
// descendants that stop with it. The approvals pages list pending and
// decided requests and decide one with a required reason through
// [issuer.Issuer.Approve] and [issuer.Issuer.Deny]; those who decide
// follow the issuer's approval changes over a session-authenticated feed
// (/console/approvals/events).
package console
