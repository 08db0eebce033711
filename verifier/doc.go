// Package verifier checks agentid presentations: the per-request proof that
// an AI agent holds the key its credential was issued to, and that the
// credential, issued by a trusted issuer, still allows the request.
//
// A presentation is a vp+jwt signed by the agent's did:key, addressed to
// the resource API (aud), short-lived (iat, exp), single-use (jti, and
// optionally a nonce the API issued), optionally bound to one HTTP request
// (htm, htu), enveloping exactly one AgentCredential (a vc+jwt). The formats
// are fixed by DESIGN.md ("Presentation format").
//
// # Entry points
//
// [New] builds a [Verifier] from functional options. Three are required:
//
//   - [WithKeyResolver]: how DID URL kids become public keys (in production a
//     did.MultiResolver with did:key and did:web).
//   - [WithTrustedIssuers]: the issuer DIDs whose credentials are accepted.
//   - [WithStatusChecker]: how status bits are read (a statuslist.Checker).
//
// [ForIssuers] fills in those three for the common case, a verifier that
// trusts given issuers: did:key locally and did:web over HTTPS, status lists
// with a statuslist.Checker, optionally following the issuers' change feeds
// (see [TrustConfig]; each default can be replaced):
//
//	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{
//		Issuers: []string{"did:web:issuer.example.com"},
//	}, verifier.WithAudience("https://calendar.example.com"))
//
// The others are optional: [WithAudience] (the default audience, the API's
// URL; needed unless every [Request] names one), [WithClock], [WithSkew]
// (default 60 s, at most 5 min), [WithMaxLifetime] (longest exp - iat,
// default 5 min), [WithRequiredNonce], [WithRequiredRequestBinding] (htm
// and htu mandatory), [WithReplayCache] (default: [NewMemoryReplayCache]),
// [WithSignatureCache] (default 10,000 credentials, 0 disables it),
// [WithAudit] (one audit.Event per decision) and [WithObserver] (metrics).
//
// [Verifier.Verify] checks a presentation for a [Request] (audience, method,
// URL, nonce, scopes, source IP, request id) and returns a [Result] (agent,
// issuer, scopes, owner, credential id, expiry) or an error that carries
// exactly one reason code: use reason.CodeOf, errors.Is(err, reason.Revoked)
// or errors.As with *reason.Error, never the message text.
// [Verifier.VerifyHolder] runs only the presentation checks (steps 1-7
// below, then 16) for presentations without a credential;
// [Verifier.AuthenticateHolder] adds an admission step before the jti is
// recorded, which the issuer uses to authenticate its principals.
//
//	v, err := verifier.New(
//		verifier.WithKeyResolver(resolver),
//		verifier.WithTrustedIssuers("did:web:issuer.example.com"),
//		verifier.WithStatusChecker(checker),
//		verifier.WithAudience("https://calendar.example.com"),
//	)
//	...
//	res, err := v.Verify(ctx, vp, verifier.Request{
//		Method: "GET", URL: "https://calendar.example.com/v1/events",
//		Scopes: []string{"calendar:read"}, SourceIP: ip,
//	})
//	if code, ok := reason.CodeOf(err); ok { ... } // refused: code says why
//
// # Order of checks
//
// The checks run cheapest and most fundamental first; the first failure
// decides the reason code.
//
//  1. Size and algorithm: at most 64 KiB, three base64url segments, a JSON
//     protected header without crit, b64 or embedded keys, typ vp+jwt:
//     malformed. An alg other than EdDSA, Ed25519 or ES256: unsupported_alg.
//     The payload must be a VC 2.0 VerifiablePresentation with a holder (or
//     iss, equal when both are set): malformed. The kid must be a DID URL of
//     the holder: unknown_key.
//  2. Presentation signature by the holder key: the kid is resolved as an
//     authentication method, unknown_key when it does not resolve or its key
//     type does not fit the alg; bad_signature when the signature fails.
//  3. Audience: no audience configured, or aud does not contain it:
//     wrong_audience.
//  4. Time: iat or exp missing, or exp - iat not in (0, max lifetime]:
//     malformed. Now after exp + skew: expired. Now + skew before iat (or
//     nbf): not_yet_valid.
//  5. Replay: jti missing: malformed; holder and jti already seen:
//     replayed. This is only a lookup: the jti is recorded last (step 16).
//  6. Nonce: when Request.Nonce is set, the presentation's nonce must equal
//     it; otherwise, with [WithRequiredNonce], it must be one the
//     [NonceStore] issued, unexpired and unused (it is consumed): bad_nonce.
//  7. Request binding: when htm or htu is present, or
//     [WithRequiredRequestBinding] is set, both must be present, the request's
//     method and URL known, htm equal to the method and htu equal to the URL
//     after normalisation (RFC 9449: no query or fragment, scheme and host
//     case-insensitive, default port elided): request_mismatch.
//  8. Exactly one enveloped credential: malformed.
//  9. Credential signature, through a cache keyed by the whole vc+jwt
//     (compared in full on a hit) that remembers a verified credential until its validUntil, and
//     at most 5 minutes. On a miss: the vc+jwt is parsed as in step 1
//     (malformed, unsupported_alg; claims that disagree with the data model:
//     malformed; kid not a key of the issuer: unknown_key); the issuer must
//     be trusted: untrusted_issuer; the kid is resolved as an assertionMethod
//     and the signature checked: unknown_key, bad_signature.
//  10. Validity window: past validUntil or exp (+ skew): expired; before
//     validFrom (- skew): not_yet_valid.
//  11. Holder = subject: the presentation's signer must be
//     credentialSubject.id: holder_mismatch.
//  12. Status, on every call, never from a cached verdict: revoked,
//     suspended, or status_unavailable when the checker fails without a
//     code (fail closed); a coded error from the checker is passed through.
//  13. Scopes: every Request.Scopes entry must be granted exactly:
//     insufficient_scope.
//  14. Audience in the credential: the audience must be listed in
//     credentialSubject.audiences: wrong_audience.
//  15. Constraints: sourceNetworks (Request.SourceIP must be known and
//     inside one prefix), timeWindow (in its IANA zone, may span midnight),
//     rateLimit (fixed windows per agent): constraint_violated, also when a
//     constraint itself is invalid.
//  16. Replay, again: the holder's jti is recorded in the replay cache,
//     atomically; already recorded (a concurrent use of the same
//     presentation won) or not recordable (the holder's quota or the
//     cache is full): replayed.
//
// The verifier never yields schema_invalid: credentials are validated
// against the JSON Schema by the issuer before signing.
//
// # Audit and metrics
//
// With [WithAudit], every Verify call records exactly one event: action
// "verify", decision "allow" or "deny" with the reason code and detail, the
// request id, source IP, scopes asked, resource (Request.URL, else the
// audience), and the holder and credential id once they are authenticated
// (never unauthenticated claims). If the event cannot be recorded, Verify
// returns an error with no reason code and no result: a decision that
// leaves no trace is not made. [WithObserver] sees every decision with its
// code ("" when allowed) and duration.
//
// # Middleware
//
// Package [github.com/agentid/agentid/verifier/middleware] protects
// net/http handlers: Require reads "Authorization: VP <vp+jwt>", verifies it
// against the request's method and URL (rebuilt from Config.BaseURL, or
// from the request's TLS state and Host header) and the route's scopes, and
// puts the [Result] in the request context (middleware.FromContext).
// Refusals are RFC 9457 problem details (application/problem+json) with the
// reason code in "code": 403 for insufficient_scope and constraint_violated,
// 401 otherwise, with WWW-Authenticate: VP realm="<audience>" plus a fresh
// nonce="..." when nonces are required, and error="<code>". A missing
// header is malformed. A refusal without a reason code (the audit sink
// failed) is 503. Package
// [github.com/agentid/agentid/verifier/ginmiddleware] is the same for gin.
// Package [github.com/agentid/agentid/verifier/verifiertest] builds issuers,
// agents, credentials and presentations in memory for tests.
//
// # Caveats
//
//   - Rate limits (the rateLimit constraint) are counted per verifier
//     process: several replicas each allow the full rate.
//   - The replay cache is per process unless [WithReplayCache] supplies a
//     shared one; behind several replicas, a presentation could otherwise be
//     accepted once by each within its lifetime. [MemoryNonces] is per
//     process too: a nonce is only valid at the replica that issued it.
//   - A presentation whose lifetime (exp - iat) exceeds the maximum is
//     malformed, not expired: it was never acceptable.
//   - The jti is recorded in the replay cache only when every check passed
//     (step 16): anyone can mint a key and sign a presentation, so a
//     refused presentation must take no room in a shared, bounded cache.
//     [MemoryReplayCache] also gives each holder a quota of unexpired
//     entries, so that one authenticated holder cannot crowd out others.
//   - Without htm/htu, a presentation is valid for any request to its
//     audience (once, within its lifetime); require the binding with
//     [WithRequiredRequestBinding] where that matters. Without
//     Config.BaseURL the middleware trusts the Host header to rebuild htu.
//   - A credential's signature is trusted from the cache for up to 5
//     minutes, so retiring an issuer key takes that long to reach cached
//     credentials. Status, validity, scopes and constraints are checked on
//     every call.
//   - [Result.Credential] and Result.Scopes may be shared with the
//     signature cache: treat a Result as read-only (writing to Scopes would
//     change what later presentations of the same credential are granted).
//   - Status is whatever the [StatusChecker] says: a credential with no
//     credentialStatus entries cannot be revoked by status list.
//   - Every 401 from the middleware issues a nonce when nonces are required.
//     [MemoryNonces] stores nothing when it issues one (a nonce is a MAC over
//     its issue time and random bytes), so a flood of unauthenticated
//     requests cannot expire outstanding challenges; it records only
//     consumed nonces, bounded, and when that record is full it refuses
//     every nonce issued before the oldest it had to forget.
package verifier
