// Package audit is agentid's append-only, hash-chained audit trail.
//
// Every decision the issuer and the verifiers take — issuing, refreshing,
// revoking, suspending, reinstating, retiring, principal and key changes,
// and every verification — is an [Event]. Events are numbered 1, 2, 3...
// without gaps, and each carries the SHA-256 of its predecessor, so that
// editing, removing or reordering a stored event is detectable.
//
// # Entry points
//
//   - [Open] a [Log] over a bbolt database. [Log.AppendTx] appends inside
//     the caller's write transaction, so the event commits or rolls back
//     with the operation it records. [Log.Append] appends on its own:
//     one writer goroutine commits the events of concurrent callers
//     together (group commit, one fsync pair a lot), and Append returns
//     once the event is durable.
//   - [Log.Query] and [Log.Export] read events by [Filter]; Export writes
//     JSON lines.
//   - [Log.Verify] walks the chain in the database and [VerifyLines] walks
//     an exported file; both report each break as a [ChainError] with the
//     sequence number and the kind: edited, removed, reordered or corrupt.
//   - [Log.Summary] applies local anomaly rules (denials, use of revoked
//     credentials, scope probing, new resources, rate spikes, dormant and
//     expired agents) and ranks agents by a documented risk score.
//   - [Sink] is what an embedded verifier writes to: a *Log, [JSONLines],
//     [Discard], or a [Forwarder] (see [Forward]), which posts the events
//     asynchronously to the issuer's POST /v1/audit/events so that they
//     join the issuer's trail. A Forwarder's Record returning nil means
//     queued, not yet durable at the issuer; it fails closed with
//     [ErrQueueFull] when delivery keeps failing.
//
// A minimal use:
//
//	log, err := audit.Open(db, nil)
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
// # Storage
//
// The log lives in the bbolt bucket "audit": each event under its seq as 8
// bytes big-endian, and the chain head (last seq and hash) under a key that
// is not 8 bytes long. The head is read and written inside every append's
// transaction; a Log keeps no chain state in memory, so rolled-back or
// retried transactions cannot desynchronise it.
//
// # Canonical encoding
//
// An event's Hash is the hex SHA-256 of its canonical encoding: the output
// of encoding/json for the Event with Hash set to "". encoding/json emits
// struct fields in declaration order with no insignificant whitespace, so
// the encoding is deterministic; the hash covers Seq and Prev, which chains
// the events. Before encoding, Time is converted to UTC and strings to
// valid UTF-8, so that a stored record always re-encodes to the same bytes.
// The stored record (and each exported line) is exactly the canonical
// encoding with the hash filled in; verification re-encodes every record
// and compares bytes, so even changes invisible to a JSON parser (added
// members, whitespace, duplicate keys) count as edits. The package writes
// those bytes without reflection; a differential fuzz test holds that
// encoder to encoding/json, which remains the definition.
//
// The first event's Prev is [GenesisPrev], 64 zeros.
//
// # Caveats
//
// A hash chain shows that a log is consistent with itself. Anyone who can
// write the database can rewrite every event after some point and the
// head consistently. To detect that, publish [Log.Head] somewhere the
// database's writers cannot reach (another system, a signed checkpoint)
// and compare. Deleting the newest events is caught only through the head.
//
// Append's durability is bbolt's: a database opened with NoSync does not
// fsync, and Append then cannot promise durability.
//
// Each group commit blocks the writer in fdatasync twice, and the Go
// runtime hands the blocked processor to other goroutines only when its
// monitor thread notices, up to milliseconds later. A busy program that
// appends from many goroutines keeps its cores busier with GOMAXPROCS one
// above the core count, as `agentid serve` runs (docs/performance.md).
//
// Query and Summary scan the log in seq order; they have no time index and
// read every event after Filter.AfterSeq.
package audit
