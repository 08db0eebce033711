// Package audit is agentid's append-only, hash-chained audit trail: its
// events, their canonical encoding and chain rules, and the sinks that
// verifiers write to. It stores nothing durably itself and imports no
// database, so a resource server that embeds the verifier links none; the
// durable log over the store lives in package
// [github.com/agentid/agentid/audit/auditlog].
//
// Every decision the issuer and the verifiers take — issuing, refreshing,
// revoking, suspending, reinstating, retiring, principal and key changes,
// and every verification — is an [Event]. Events are numbered 1, 2, 3...
// without gaps, and each carries the SHA-256 of its predecessor, so that
// editing, removing or reordering a stored event is detectable.
//
// # Entry points
//
//   - [Sink] is what an embedded verifier writes to: [JSONLines], which
//     chains events into a file; [Discard]; a [Forwarder] (see [Forward]),
//     which posts the events asynchronously to the issuer's
//     POST /v1/audit/events so that they join the issuer's trail; or the
//     durable auditlog.Log. A Forwarder's Record returning nil means
//     queued, not yet durable at the issuer; it fails closed with
//     [ErrQueueFull] when delivery keeps failing.
//   - [VerifyLines] walks an exported file or a JSONLines output and
//     reports each break as a [ChainError] with the sequence number and
//     the kind: edited, removed, reordered or corrupt.
//   - [Filter] selects events, [SummaryBuilder] applies local anomaly
//     rules (denials, use of revoked credentials, scope probing, new
//     resources, rate spikes, dormant and expired agents) and ranks agents
//     by a documented risk score. auditlog.Log's Query, Export and Summary
//     use them.
//
// A log keeps its chain with the building blocks this package exports:
// [Prepare] and [Seal] turn an event into its chained record,
// [ParseRecord] reads one back, and a [ChainChecker] verifies stored
// records with the same rules as VerifyLines.
//
// A minimal use, recording a verifier's decisions to a file:
//
//	sink := audit.JSONLines(f)
//	...
//	err := sink.Record(ctx, &audit.Event{
//		Action: audit.ActionVerify, Decision: audit.DecisionDeny,
//		Subject: agentDID, Resource: aud, Reason: "revoked",
//	})
//	...
//	rep, err := audit.VerifyLines(f) // errors.Is(err, audit.ErrCorrupt) when broken
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
// write the log can rewrite every event after some point consistently. To
// detect that, keep the chain head (the last seq and hash) somewhere the
// log's writers cannot reach (another system, a signed checkpoint) and
// compare it with a report's LastSeq and Head. Deleting the newest events
// is caught only through the head.
package audit
