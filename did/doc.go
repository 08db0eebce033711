// Package did turns the decentralized identifiers agentid uses into public
// keys: did:key and did:jwk for agents, resolved locally, and did:web for
// issuers, fetched over HTTPS.
//
// Only two key types exist here: Ed25519 (ed25519.PublicKey) and P-256
// (*ecdsa.PublicKey). Every function that takes or returns a
// crypto.PublicKey means one of these.
//
// # Entry points
//
// Verifiers hold a [KeyResolver] and turn a JWS "kid" into a key:
//
//	web := did.NewWebResolver(did.WebOptions{})
//	r := did.NewMultiResolver(web)
//	pub, err := r.ResolveKey(ctx, kid, did.AssertionMethod)
//	if errors.Is(err, reason.Malformed) { ... }
//
// For did:key, [MultiResolver.ResolveKey] decodes the key straight from the
// DID, without building a document. The encoders and decoders are also
// available on their own: [KeyFromPublic] and [PublicKeyFromKey] for
// did:key; [JWKFromPublic] and [PublicKeyFromJWK] for did:jwk; [PublicJWK],
// [ParsePublicJWK] and [Thumbprint] for JWKs; [WebURL] and [WebDID] for the
// did:web mapping.
//
// Issuers publish their keys with [NewWebDocument] and serve the result as
// JSON at the URL [WebURL] gives. [ParseDocument] parses and checks a DID
// document from elsewhere; [Document.PublicKey] picks a key from it.
//
// # Errors
//
// Every error is a [*ResolutionError] carrying a DID Resolution error code
// ([CodeInvalidDID], [CodeNotFound], ...). [ResolutionError.Reason] maps it
// onto the agentid reason codes, and errors.Is(err, reason.Malformed) or
// errors.Is(err, reason.UnknownKey) test for them. Never match on message
// text.
//
// # Caveats
//
//   - did:web is accepted in a strict canonical form (see [WebURL]): no IP
//     addresses, lower-case hosts, no percent-encoding except "%3A" before a
//     port, no dot segments. Plain http is used only for localhost, and only
//     with [WebOptions].AllowHTTPLocalhost.
//   - A [WebResolver] caches documents for [WebOptions].CacheTTL (5 minutes
//     by default); after rotating or retiring a key, call
//     [WebResolver.Invalidate] or wait for the TTL. Failures are not cached.
//   - Documents are validated strictly where it matters (ids, controllers,
//     key encodings, points on the curve, no private JWK members) and
//     leniently where it does not: methods of unsupported key types are kept
//     but never returned as keys, and unknown members are dropped.
//   - Returned documents may be shared with a cache; treat them as
//     read-only.
//   - A method's controller must be the document's own DID; keys
//     controlled by another DID are not followed.
package did
