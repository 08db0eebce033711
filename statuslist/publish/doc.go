// Package publish is the issuer side of W3C Bitstring Status List v1.0 for
// agentid: it allocates status list indexes at random without replacement
// inside the caller's store transaction, flips status bits, re-signs a list
// after it changes (changes coalesce), serves the signed lists with ETag and
// Cache-Control, and announces each re-signed list on a server-sent-events
// change feed. The list format, the bitstring codec and the verifier's
// Checker are in package [github.com/agentid/agentid/statuslist].
//
// # Entry points
//
// [Open] keeps allocation state and status bits in the issuer's
// [store.Store], in buckets prefixed "statuslist/", so that they commit with
// the rest of the issuer's state. There is one sequence of lists per
// [Purpose] ([Revocation], [Suspension]), published at
// <BaseURL>/status/<purpose>/<n>.
//
// [Store.AllocateTx] hands out an index inside the caller's write
// transaction, so the allocation commits or rolls back with the credential
// that carries it:
//
//	err := db.Update(ctx, func(tx store.Tx) error {
//		rev, err := lists.AllocateTx(tx, publish.Revocation)
//		if err != nil {
//			return err
//		}
//		sus, err := lists.AllocateTx(tx, publish.Suspension)
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
// counter only advances in a committed transaction. When a list is full
// the next one is opened.
//
// [Store.SetTx] (in the caller's transaction) and [Store.Set] (in its own)
// flip a bit; [Store.Status] reads one. Revocation is final: clearing a
// revocation bit fails with [ErrIrreversible]. Suspension can be set and
// cleared. An entry this store did not hand out fails with
// [ErrUnknownEntry].
//
// A [Publisher] signs each list with [statuslist.SignListCredential] (a
// BitstringStatusListCredential secured as vc+jwt, valid for 24 h by
// default) and is the [net/http.Handler] for GET /status/{purpose}/{n}, with
// a strong ETag, If-None-Match and a Cache-Control max-age equal to the
// ttl. A committed change marks the list dirty (through [store.Tx.OnCommit]);
// the first change after a quiet period is re-signed at once, and further
// changes coalesce into at most one signature per CoalesceInterval
// (100 ms). A list is also re-signed on first request and when less than
// half of its validity is left. After re-signing, the Publisher announces
// the list on its [Feed], the handler for GET /v1/status/events, so that a
// subscribed [statuslist.Checker] refetches it within a second instead of
// within the ttl:
//
//	lists, err := publish.Open(db, publish.Options{BaseURL: "https://issuer.example"})
//	...
//	feed := publish.NewFeed(publish.FeedOptions{})
//	pub, err := publish.NewPublisher(lists, publish.PublisherOptions{
//		Issuer: issuerDID,
//		Signer: func() jws.Signer { return currentSigner },
//		Feed:   feed,
//	})
//	...
//	mux.Handle("/status/", pub)
//	mux.Handle("/v1/status/events", feed)
//	...
//	err = lists.Set(ctx, entry, true) // revoke: re-signed and announced
//
// # Caveats
//
// A Publisher learns of changes only through the [Store] value it was
// given: a change committed through another Store on the same database, or
// by another process, is not re-signed until the list is next signed for
// another reason. Make every change through the Store a Publisher was
// given, and publish from one Publisher per database.
//
// BaseURL must not change while credentials that name it are live: the
// list URL is part of every status entry.
//
// Inside [store.Store.Batch] the caller's function may run more than once;
// use the entries of the run that returns nil (assign them inside the
// function, as above). Rolled-back runs allocate nothing.
//
// The permutation keys are stored in the database next to the lists. They
// only hide the order of allocation; they protect no signature.
//
// Feed events say only which list changed; a verifier trusts them to cause
// a refetch, never for status itself. A slow subscriber is disconnected
// rather than allowed to block publishing, and reconnects.
//
// When the signer fails, the list is not served stale: requests get 503
// until a signature succeeds.
package publish
