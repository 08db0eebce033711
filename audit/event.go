package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Actions recorded by agentid. The list is open: an Event may carry another
// non-empty action, but these are the ones the issuer and verifier write.
const (
	ActionAgentIssue          = "agent.issue"
	ActionCredentialRefresh   = "credential.refresh"
	ActionCredentialRevoke    = "credential.revoke"
	ActionCredentialSuspend   = "credential.suspend"
	ActionCredentialReinstate = "credential.reinstate"
	ActionAgentRetire         = "agent.retire"
	ActionPrincipalAdd        = "principal.add"
	ActionPrincipalRemove     = "principal.remove"
	ActionKeyRotate           = "key.rotate"
	ActionPrincipalList       = "principal.list"
	ActionAuditRead           = "audit.read"
	ActionAuditIngest         = "audit.ingest"
	ActionVerify              = "verify"
	ActionOAuthToken          = "oauth.token" // an access token granted or refused (issuer/oauth)
)

// Decisions. Every event records one of them.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// GenesisPrev is the Prev of the first event of a chain: 64 zeros, the hex
// form of an all-zero SHA-256 digest.
const GenesisPrev = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxEventSize bounds the canonical encoding of one event, in bytes. Appends
// of larger events fail with ErrInvalidEvent; it keeps a caller-controlled
// Detail from bloating the log.
const MaxEventSize = 64 << 10

// Event is one audit record. Seq, Prev and Hash are assigned on append; Time
// is assigned on append when it is zero and is always stored in UTC.
//
// The JSON encoding of an Event is part of the chain: see the package
// documentation ("Canonical encoding") before adding or reordering fields.
// New fields must carry omitempty so that old records re-encode to the same
// bytes, and Hash and MAC must remain the last fields.
type Event struct {
	Seq        uint64    `json:"seq"`                  // assigned on append, 1-based, gap-free
	Time       time.Time `json:"time"`                 // UTC
	RequestID  string    `json:"requestId,omitempty"`  // correlation id of the request
	Actor      string    `json:"actor,omitempty"`      // DID of the caller
	Action     string    `json:"action"`               // one of the Action constants
	Subject    string    `json:"subject,omitempty"`    // agent DID
	Credential string    `json:"credential,omitempty"` // credential id
	Resource   string    `json:"resource,omitempty"`   // audience / resource URL
	Scopes     []string  `json:"scopes,omitempty"`     // scopes asked
	Decision   string    `json:"decision"`             // DecisionAllow or DecisionDeny
	Reason     string    `json:"reason,omitempty"`     // reason code on deny
	Detail     string    `json:"detail,omitempty"`     // free text for people
	SourceIP   string    `json:"sourceIp,omitempty"`   // caller's address, if known
	// Reported marks an event a principal's verifier reported (through the
	// issuer's ingest endpoint) rather than one the log's owner decided:
	// its time and content are the reporter's word. The summary counts it
	// in its window but never lets it move an agent's last-seen time or
	// rate baseline.
	Reported bool `json:"reported,omitempty"`
	// Delegation is the delegation chain of the sub-agent credential the
	// event is about (root first), so that a decision traces to who
	// delegated what to whom. Empty for every other event.
	Delegation []Link `json:"delegation,omitempty"`
	Prev       string `json:"prev"`          // Hash of the previous event, GenesisPrev for the first
	Hash       string `json:"hash"`          // hex SHA-256 of the canonical encoding
	MAC        string `json:"mac,omitempty"` // keyed chains: hex HMAC-SHA256 of the record up to and with Hash
}

// Link is one link of a delegation chain: an ancestor agent's credential
// id and DID.
type Link struct {
	Credential string `json:"credential"`
	Holder     string `json:"holder"`
}

// Sentinel errors. Errors returned by this package wrap one of these, so
// callers branch with errors.Is.
var (
	// ErrCorrupt reports a log (or exported file) whose records are
	// unreadable or whose hash chain does not hold. A *ChainError carrying
	// the sequence number and kind is always in the error chain.
	ErrCorrupt = errors.New("audit: corrupt log")
	// ErrBadFilter reports an invalid Filter or SummaryOptions.
	ErrBadFilter = errors.New("audit: bad filter")
	// ErrInvalidEvent reports an event that cannot be appended: missing
	// action, unknown decision, unencodable time, or too large.
	ErrInvalidEvent = errors.New("audit: invalid event")
	// ErrUnavailable reports that the log could not be written (the
	// store failed: a full disk, a closed database). The decision whose
	// event it was must not be acted on.
	ErrUnavailable = errors.New("audit: log unavailable")
)

// Kinds of chain breakage reported in ChainError.Kind.
const (
	// KindEdited: a record's content does not match its hash, or is not in
	// canonical form, or the head records a different hash for it.
	KindEdited = "edited"
	// KindRemoved: sequence numbers are missing, or an event does not link
	// to its predecessor (something between them was removed or rewritten).
	KindRemoved = "removed"
	// KindReordered: a record is stored under another sequence number than
	// its own, or appears out of order in an exported file.
	KindReordered = "reordered"
	// KindCorrupt: a record cannot be parsed, or the log's bookkeeping
	// (keys, chain head) is damaged.
	KindCorrupt = "corrupt"
	// KindDowngraded: an unkeyed (plain SHA-256) event follows a keyed
	// one. A log never goes back from keyed to unkeyed, so the event was
	// written by someone without the chain key.
	KindDowngraded = "downgraded"
	// KindTruncated: the log ends before a signed head that was given to
	// check it against: events were removed from its end.
	KindTruncated = "truncated"
)

// ChainError locates one break in the hash chain. Seq is the sequence
// number where the break was found (for KindRemoved, the first missing one);
// Seq 0 refers to the chain head rather than to an event.
//
// errors.Is(chainErr, ErrCorrupt) is true.
type ChainError struct {
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func (e *ChainError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("audit: chain head %s: %s", e.Kind, e.Detail)
	}
	return fmt.Sprintf("audit: event %d %s: %s", e.Seq, e.Kind, e.Detail)
}

// Is makes errors.Is(err, ErrCorrupt) hold for every ChainError.
func (e *ChainError) Is(target error) bool { return target == ErrCorrupt }

// errorf formats an error with the package prefix.
func errorf(format string, args ...any) error {
	return fmt.Errorf("audit: "+format, args...)
}

// Prepare validates ev and normalises it for sealing: a zero Time is set
// from now, Time is converted to UTC and every string to valid UTF-8
// (encoding/json would otherwise substitute U+FFFD escapes, and the record
// would not re-encode to the same bytes). Scopes is copied so that the
// caller's slice is never modified. An event without an action or with an
// unknown decision fails with an error wrapping ErrInvalidEvent.
//
// Every Sink calls Prepare on its copy of an event before it assigns Seq
// and Prev and calls Seal.
func Prepare(ev *Event, now func() time.Time) error {
	if ev.Time.IsZero() {
		ev.Time = now()
	}
	ev.Time = ev.Time.UTC()
	for _, s := range []*string{&ev.RequestID, &ev.Actor, &ev.Action, &ev.Subject,
		&ev.Credential, &ev.Resource, &ev.Decision, &ev.Reason, &ev.Detail, &ev.SourceIP} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	if ev.Scopes != nil {
		scopes := slices.Clone(ev.Scopes)
		for i := range scopes {
			scopes[i] = strings.ToValidUTF8(scopes[i], "\uFFFD")
		}
		ev.Scopes = scopes
		if len(scopes) == 0 {
			ev.Scopes = nil
		}
	}
	if ev.Delegation != nil {
		links := slices.Clone(ev.Delegation)
		for i := range links {
			links[i].Credential = strings.ToValidUTF8(links[i].Credential, "\uFFFD")
			links[i].Holder = strings.ToValidUTF8(links[i].Holder, "\uFFFD")
		}
		ev.Delegation = links
		if len(links) == 0 {
			ev.Delegation = nil
		}
	}
	if ev.Action == "" {
		return fmt.Errorf("%w: action is empty", ErrInvalidEvent)
	}
	if ev.Decision != DecisionAllow && ev.Decision != DecisionDeny {
		return fmt.Errorf("%w: decision %q is neither %q nor %q", ErrInvalidEvent, ev.Decision, DecisionAllow, DecisionDeny)
	}
	return nil
}

// hashSuffix ends every canonical encoding: Hash is the last field and is
// not omitempty.
var hashSuffix = []byte(`,"hash":""}`)

// canonical returns the canonical encoding of ev: encoding/json's output for
// a copy of ev with Hash set to "". Field order is the struct's, which is
// fixed; the output has no insignificant whitespace. appendCanonical
// writes it without reflection.
func canonical(ev *Event) ([]byte, error) {
	return appendCanonical(make([]byte, 0, 512), ev)
}

// record builds the stored form of an event from its canonical encoding and
// hex hash: the canonical bytes with the hash filled in.
func record(canon []byte, hash string) []byte {
	rec := make([]byte, 0, len(canon)+len(hash))
	rec = append(rec, canon[:len(canon)-2]...) // drop `"}`, keep `"hash":"`
	rec = append(rec, hash...)
	return append(rec, `"}`...)
}

// Seal sets ev.Hash from the canonical encoding of ev and returns the
// record: that encoding with the hash filled in, the bytes a log stores and
// an export writes as one line. The caller sets ev.Seq and ev.Prev first,
// to chain the event, and normally runs ev through Prepare. An event that
// cannot be encoded or whose encoding exceeds MaxEventSize fails with an
// error wrapping ErrInvalidEvent.
func Seal(ev *Event) ([]byte, error) { return SealKeyed(ev, nil) }

// SealKeyed is Seal for a keyed chain. The event is sealed as by Seal (its
// Hash, a SHA-256, links the chain and can be checked by anyone); with a
// non-nil key it also gets a MAC, the hex HMAC-SHA256 under key of the
// record up to and with its hash, appended as the last field "mac". An
// event without a MAC is unkeyed, as every event written before keyed
// chains was. With a nil key MAC is cleared.
func SealKeyed(ev *Event, key []byte) ([]byte, error) {
	ev.MAC = ""
	canon, err := canonical(ev)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if len(canon) > MaxEventSize {
		return nil, fmt.Errorf("%w: %d bytes encoded, limit %d", ErrInvalidEvent, len(canon), MaxEventSize)
	}
	sum := sha256.Sum256(canon)
	ev.Hash = hex.EncodeToString(sum[:])
	rec := record(canon, ev.Hash)
	if key != nil {
		ev.MAC = mac(rec, key)
		rec = withMAC(rec, ev.MAC)
	}
	return rec, nil
}

// ParseRecord decodes a record without checking its hash or its place in
// the chain (a ChainChecker does both). A record that is not an event
// yields a *ChainError of KindCorrupt at seq, which is where the caller
// found the record: ParseRecord does not compare it with the event's own
// Seq.
func ParseRecord(seq uint64, raw []byte) (*Event, error) {
	ev, kind, detail := parse(raw)
	if ev == nil {
		return nil, &ChainError{Seq: seq, Kind: kind, Detail: detail}
	}
	return ev, nil
}

// parse decodes a stored record without checking its hash. It returns nil
// and a KindCorrupt detail for a record that is not an event.
func parse(raw []byte) (*Event, string, string) {
	ev := new(Event)
	if err := json.Unmarshal(raw, ev); err != nil {
		return nil, KindCorrupt, "unparseable record: " + err.Error()
	}
	if ev.Seq == 0 {
		return nil, KindCorrupt, "record has no sequence number"
	}
	return ev, "", ""
}

// mac is the hex HMAC-SHA256 under key of an unkeyed record (the
// canonical encoding with its hash).
func mac(rec, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(rec)
	return hex.EncodeToString(m.Sum(nil))
}

// withMAC appends the "mac" field to an unkeyed record.
func withMAC(rec []byte, mac string) []byte {
	out := make([]byte, 0, len(rec)+len(mac)+9)
	out = append(out, rec[:len(rec)-1]...) // drop "}"
	out = append(out, `,"mac":"`...)
	out = append(out, mac...)
	return append(out, `"}`...)
}

// check parses a stored record and checks it against its own hash. It
// returns the parsed event (nil when the record cannot be parsed) and, when
// the record is bad, the kind and detail of the problem. It never panics.
//
// A keyed event (one with a MAC) has its MAC checked under key; with a
// nil key its MAC cannot be checked, only its hash and form, and unchecked
// is true.
func check(raw, key []byte) (ev *Event, kind, detail string, unchecked bool) {
	ev, kind, detail = parse(raw)
	if ev == nil {
		return nil, kind, detail, false
	}
	canon, err := canonical(ev)
	if err != nil {
		return ev, KindCorrupt, "record cannot be re-encoded: " + err.Error(), false
	}
	sum := sha256.Sum256(canon)
	if want := hex.EncodeToString(sum[:]); want != ev.Hash {
		return ev, KindEdited, fmt.Sprintf("content hashes to %s, record says %.64q", want, ev.Hash), false
	}
	rec := record(canon, ev.Hash)
	if ev.MAC != "" {
		if len(ev.MAC) != 64 {
			return ev, KindEdited, fmt.Sprintf("MAC %.64q is not 64 hex digits", ev.MAC), false
		}
		if key == nil {
			unchecked = true
		} else if want := mac(rec, key); !hmac.Equal([]byte(want), []byte(ev.MAC)) {
			return ev, KindEdited, "MAC does not match under the chain key: the event was edited or written without the key", false
		}
		rec = withMAC(rec, ev.MAC)
	}
	if !bytes.Equal(rec, raw) {
		return ev, KindEdited, "record is not in canonical form (bytes were added or altered outside the hashed fields)", unchecked
	}
	return ev, "", "", unchecked
}
