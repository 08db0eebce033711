// Package statuslist implements W3C Bitstring Status List v1.0 for agentid:
// revocation and suspension of credentials, from the issuer's bbolt store to
// the verifier's cache, fast enough that a verifier following the change
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
// [Open] keeps allocation state and status bits in the issuer's bbolt
// database, in buckets prefixed "statuslist/". There is one sequence of
// lists per [Purpose] ([Revocation], [Suspension]), published at
// <BaseURL>/status/<purpose>/<n>.
//
// [Store.AllocateTx] hands out an index inside the caller's write
// transaction, so the allocation commits atomically with the credential that
// carries it:
//
//	err := db.Update(func(tx *bbolt.Tx) error {
//		rev, err := store.AllocateTx(tx, statuslist.Revocation)
//		if err != nil {
//			return err
//		}
//		sus, err := store.AllocateTx(tx, statuslist.Suspension)
//		if err != nil {
//			return err
//		}
//		cred.CredentialStatus = []vc.StatusEntry{rev, sus}
//		return saveCredential(tx, cred)
//	})
//
// Indexes are random without replacement (herd privacy): each list has a
// random 256-bit key and a counter, and the index is the counter's image
// under a keyed pseudorandom permutation (an 8-round Feistel network with
// HMAC-SHA256 rounds, cycle-walking over [0, size)). That needs O(1) state,
// never repeats an index, and survives restarts and crashes because the
// counter is only ever advanced in a committed transaction. When a list is
// full the next one is opened. The permutation key only hides the order of
// allocation; it protects no signature and is stored in the database.
//
// [Store.SetTx] and [Store.Set] flip a bit. Revocation is final: clearing a
// revocation bit fails with [ErrIrreversible]. Suspension can be set and
// cleared.
//
// A [Publisher] signs each list as a BitstringStatusListCredential secured
// as vc+jwt (issuer, validFrom, validUntil = validFrom + 24 h, ttl in
// milliseconds; registered claims iss, jti = id, iat, exp = validUntil; no
// sub), and serves it as an [http.Handler] for GET /status/{purpose}/{n}
// with a strong ETag, If-None-Match and a Cache-Control max-age equal to the
// ttl. A committed change marks the list dirty (via bbolt's tx.OnCommit);
// the first change after a quiet period is re-signed at once, and further
// changes coalesce into at most one signature per CoalesceInterval (100 ms).
// After re-signing, the Publisher announces the list on a [Feed], the
// server-sent-events handler for GET /v1/status/events.
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
