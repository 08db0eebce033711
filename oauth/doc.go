// Package oauth is what both sides of agentid's OAuth 2.1 face need: the
// issuer's authorization server (package issuer, internal/server) and the
// resource servers that accept its tokens (package verifier and its
// middleware).
//
//   - [AccessToken]: the claims of an RFC 9068 access token (typ at+jwt)
//     bound to the agent's DPoP key (cnf.jkt) and carrying the status
//     entries of the credential it derives from.
//   - DPoP (RFC 9449): [NewProof] signs a proof, [CheckProof] checks one
//     (typ, alg, public jwk, htm, htu normalised, iat window, ath, nonce)
//     and [Proof.Commit] records its jti, single-use, in a [ReplayCache].
//     [Nonces] issues stateless server nonces.
//   - private_key_jwt (RFC 7523): [NewClientAssertion] and
//     [CheckClientAssertion], for agents whose client id is their DID.
//   - [Thumbprint] and [ThumbprintJWK] (RFC 7638).
//   - Metadata documents (RFC 8414, RFC 9728) and the error type of RFC
//     6749 §5.2, [Error], whose [ErrorCode]s go on the wire unchanged.
//
// A resource server's side, in short:
//
//	v, _ := verifier.ForIssuers(ctx, trust, verifier.WithAudience("https://calendar.example.com"))
//	res, err := v.VerifyAccessToken(ctx, token, proof, verifier.Request{Method: "GET", URL: u})
//
// See docs/oauth.md for the endpoints, the claims and the decisions.
package oauth
