// Package vc models agentid's W3C Verifiable Credentials Data Model 2.0
// objects, the AgentCredential and the VerifiablePresentation, and secures
// them with JOSE as VC-JOSE-COSE specifies: a compact JWS whose payload is
// the credential itself (typ vc+jwt) or the presentation (typ vp+jwt),
// with no "vc" or "vp" claim.
//
// # Entry points
//
//   - SignCredential / SignPresentation sign through any Signer: the
//     keystore's Tink signers on the issuer, a KeySigner for an agent's own
//     key.
//   - ParseCredential / ParsePresentation parse without verifying (size,
//     alg allowlist, typ, structure, registered claims against the data
//     model, kid belongs to the issuer or holder); the returned value's
//     Verify method resolves the kid and checks the signature.
//   - VerifyCredential / VerifyPresentation do both.
//
// Parsing accepts only EdDSA (and its RFC 9864 name Ed25519) and ES256,
// never "none" or HMAC, and tokens of at most 64 KiB (see package jws).
// Every failure is a *reason.Error carrying a stable reason code:
// malformed, unsupported_alg, unknown_key or bad_signature.
//
//	pc, err := vc.ParseCredential(token)
//	if err == nil {
//		err = pc.Verify(ctx, resolver) // resolver: a did.MultiResolver
//	}
//
// # Caveats
//
// Verification here is cryptographic and structural only. Whether the
// issuer is trusted, whether the credential is within its validity window,
// revoked or suspended, and whether it grants what a request needs are the
// verifier package's checks. JSON-LD processing is not performed: the
// @context values are checked as strings, and the agentid context is
// pinned in package schemas.
package vc
