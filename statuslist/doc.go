// Package statuslist implements W3C Bitstring Status List v1.0 for agentid:
// revocation and suspension of credentials, from the issuer's signed lists
// to the verifier's cache, fast enough that a verifier following the change
// feed refuses a revoked credential within a second.
//
// # Bitstring
//
// A [Bitstring] is one bit per credential, at least [MinSize] (131,072)
// entries. Index 0 is the most significant, left-most, bit of the first byte,
// as the specification requires (implementations in the wild disagree; the
// tests pin this against the specification's and the W3C test suite's
// vectors). [Bitstring.Encode] produces the encodedList form: multibase
// base64url (prefix 'u', no padding) of the GZIP-compressed bits. [Decode]
// reverses it with a cap on the decompressed size, so a GZIP bomb costs the
// verifier at most that cap.
//
// # Issuer side
//
// The issuer side, which allocates indexes inside the issuer's store
// transactions, flips bits, re-signs and serves lists and announces changes
// on a change feed, is package
// [github.com/agentid/agentid/statuslist/publish]. This package keeps what
// the two sides share: the [Bitstring] codec, [Purpose], [EntryType], the
// change feed's [Event], and [SignListCredential], which signs a list as
// the BitstringStatusListCredential vc+jwt (issuer, validFrom, validUntil,
// ttl in milliseconds; registered claims iss, jti = id, iat, exp =
// validUntil; no sub) that a [Checker] verifies.
//
// # Verifier side
//
// A [Checker] checks a credential's entries:
//
//	err := checker.Check(ctx, cred.Issuer.ID, cred.CredentialStatus)
//	// nil, or a *reason.Error: revoked, suspended, status_unavailable
//	// (or malformed for a broken entry)
//
// It fetches each list once however many callers wait for it, verifies the
// signature with a key of the issuer's assertionMethod, requires the list's
// issuer to be the credential's, its id to be the URL it came from, its
// statusPurpose to be the entry's and its validity period to cover now, and
// caps the download and the decompressed size. Anything it cannot check
// fails closed as status_unavailable. It caches the decoded bits (about
// 16.5 KiB per list), for min(ttl, MaxAge) and never past validUntil, and
// reads the bit on every call: a verdict is never cached.
// [Checker.Subscribe] follows an issuer's change feed and invalidates lists
// as their events arrive.
//
// # Caveats
//
// Entries with a statusPurpose other than revocation or suspension fail
// closed, although the specification lets verifiers ignore them: agentid
// credentials carry only these two, so anything else is a credential this
// verifier cannot fully check. statusSize other than 1 (and the message
// purpose) is not supported. List credentials are parsed by the strict
// vc/jws codec, so a list credential larger than jws.MaxSize (64 KiB) is
// refused whatever MaxListBytes says; a 131,072-entry list is far below
// that even with every bit random.
package statuslist
