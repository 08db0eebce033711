// Package auditlog is the durable audit log: the hash-chained trail of
// [github.com/agentid/agentid/audit] events kept in a [store.Store], the
// issuer's database. Events, their encoding and chain rules, sinks and
// offline verification belong to package audit; this package only stores
// and reads them, so that programs that embed the verifier need not link
// any storage.
//
// # Entry points
//
//   - [Open] a [Log] over a store. [Log.AppendTx] appends inside the
//     caller's write transaction, so the event commits or rolls back with
//     the operation it records. [Log.Append] appends on its own (group
//     commit, below) and returns once the event is durable. *Log is an
//     [audit.Sink]: [Log.Record] is Append, or, once [Log.OpenJournal]
//     put a journal in front, a write to the journal (below).
//   - [Log.Roll], [Log.Prune] and [VerifyArchive]: retention (below).
//   - [Log.Query] and [Log.Export] read events by [audit.Filter]; Export
//     writes JSON lines that [audit.VerifyLines] checks offline.
//   - [Log.Verify] walks the chain in the database and reports each break
//     as an [audit.ChainError]; [Log.Head] returns the chain head to
//     publish elsewhere.
//   - [Log.Summary] applies audit's anomaly rules to the whole log.
//
// A minimal use:
//
//	log, err := auditlog.Open(db, nil)
//	...
//	err = db.Update(ctx, func(tx store.Tx) error {
//		// ... the operation ...
//		return log.AppendTx(tx, &audit.Event{
//			Actor: admin, Action: audit.ActionCredentialRevoke,
//			Subject: agentDID, Decision: audit.DecisionAllow,
//		})
//	})
//	...
//	err = log.Append(ctx, &audit.Event{
//		Action: audit.ActionVerify, Decision: audit.DecisionDeny,
//		Subject: agentDID, Resource: aud, Reason: "revoked",
//	})
//	...
//	if _, err := log.Verify(ctx); err != nil { // errors.Is(err, audit.ErrCorrupt)
//		...
//	}
//
// # Durability and group commit
//
// Append returns once the store reports the commit that holds the event
// durable. One writer goroutine, started by the first Append, commits the
// events of concurrent callers together, one transaction (one fsync pair)
// a lot: an idle log commits a lone event at once, and under continuous
// load a lot may gather for a couple of milliseconds. If a lot's
// transaction fails, its events are retried one by one, so that a bad
// event fails only its own caller. Once queued, an event is committed or
// refused whatever happens to the caller's context, so that Append's
// result is always true. An error from the store comes back wrapping
// [audit.ErrUnavailable]: the decision whose event it was must not be
// acted on.
//
// # The journal
//
// [Log.OpenJournal] puts an append-only journal file in front of Record:
// Record writes the event with one write(2) and returns (a killed process
// loses nothing acknowledged); a goroutine fdatasyncs the journal within
// JournalOptions.SyncInterval (a power cut loses at most that window plus
// two fdatasyncs); the writer chains journaled events in journal order and
// moves the journal's applied mark in the same transaction, so that
// OpenJournal at the next start chains exactly the entries that were not.
// Readers (Query, Export, Summary, Verify, Head) first wait for what was
// recorded before them ([Log.Flush]). A journal that cannot be written or
// chained fails closed: Record returns audit.ErrUnavailable from then on.
// [Log.Close] flushes the journal into the chain.
//
// # Retention
//
// [Log.Roll] seals the log in the store, when it is big or old enough,
// into a segment file (JSON lines as Export writes them) whose head the
// caller signs; the events leave the store, which keeps the signed head
// as its base and verifies from there. [Log.Prune] deletes the oldest
// segment files by count or age and keeps the signed head of the last as
// [PrunedHead]. [VerifyArchive] checks the segments and the store's
// export as one chain.
//
// AppendTx does no commit of its own: the event shares the fate, and the
// fsync, of the caller's transaction, and its Seq, Prev and Hash mean
// something only once that transaction commits. An error from AppendTx
// must fail the transaction.
//
// # Storage
//
// The log lives in the store's bucket "audit": each event under its seq as
// 8 bytes big-endian, and the chain head (last seq and hash) under a key
// that is not 8 bytes long. The head is read and written inside every
// append's transaction; a Log keeps no chain state in memory, so
// rolled-back or retried transactions cannot desynchronise it. Errors
// carry the prefix "audit: ", as the rest of the trail's do.
//
// # Caveats
//
// A hash chain shows that a log is consistent with itself. Anyone who can
// write the database can rewrite every event after some point and the
// head consistently. To detect that, publish [Log.Head] somewhere the
// database's writers cannot reach (another system, a signed checkpoint)
// and compare. Deleting the newest events is caught only through the head.
//
// Append's durability is the store's: a bbolt store opened with NoSync
// does not fsync, and Append then cannot promise durability.
//
// Each group commit blocks the writer in fdatasync twice, and the Go
// runtime hands the blocked processor to other goroutines only when its
// monitor thread notices, up to milliseconds later. A busy program that
// appends from many goroutines keeps its cores busier with GOMAXPROCS one
// above the core count, as `agentid serve` runs (docs/performance.md).
//
// Query, Export and Summary scan the log in seq order; they have no time
// index and read every event after Filter.AfterSeq (up to
// Filter.BeforeSeq). A Query with Filter.Reverse reads from the end
// instead, newest first, so that the latest events cost the same in a log
// of any length. They run their callbacks outside database transactions,
// a chunk of events at a time.
package auditlog
