package audit

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// MaxChainErrors bounds VerifyReport.Errors; past it, Truncated is set.
const MaxChainErrors = 1000

// MaxLineSize bounds one line of a file read by VerifyLines.
const MaxLineSize = 1 << 20

// VerifyReport is the outcome of walking a chain.
type VerifyReport struct {
	Events    uint64       `json:"events"`           // records examined (including bad ones)
	FirstSeq  uint64       `json:"firstSeq"`         // seq of the first event read, 0 if none
	LastSeq   uint64       `json:"lastSeq"`          // seq of the last event read, 0 if none
	Head      string       `json:"head"`             // hash of the last event read
	Errors    []ChainError `json:"errors,omitempty"` // breaks found, in seq order
	Truncated bool         `json:"truncated"`        // more than MaxChainErrors breaks; the rest were dropped
	// Keyed counts keyed (HMAC) events; Unchecked those whose MAC could
	// not be checked because no key was given (an offline file check):
	// their form and links were checked, not their MACs.
	Keyed     uint64 `json:"keyed,omitempty"`
	Unchecked uint64 `json:"unchecked,omitempty"`
	// SignedHead is the signed head the chain was checked against, if any.
	SignedHead *Head `json:"signedHead,omitempty"`
}

// Head is a chain head as the issuer signs it: the seq and hash of the
// last event at a time. Kept outside the log, it anchors the chain: a log
// whose event Seq no longer has Hash was rewritten, a log that ends before
// Seq was truncated.
type Head struct {
	Issuer string    `json:"iss,omitempty"`
	Seq    uint64    `json:"seq"`
	Hash   string    `json:"hash"`
	Time   time.Time `json:"time"`
}

// ChainOptions tune a chain walk. The zero value walks an unkeyed or keyed
// chain from seq 1 without checking MACs (and counts them Unchecked).
type ChainOptions struct {
	// Key is the chain key: keyed events' MACs are checked under it.
	Key []byte
	// From starts the walk at this seq rather than 1 (0 means 1): the
	// event at From is taken as the anchor, its link to its predecessor
	// unchecked. Used to verify the tail after a trusted signed head.
	From uint64
	// Head, when set, is a signed head (already authenticated by the
	// caller) the chain must agree with: the event at Head.Seq must carry
	// Head.Hash, and the chain must reach Head.Seq.
	Head *Head
	// Heads are further signed heads (authenticated by the caller) the
	// chain must agree with, as with Head: the heads of sealed segments.
	Heads []Head
	// Anchor, when set, is where the chain starts: the signed head of
	// the last event pruned from it. The first event must be Anchor.Seq+1
	// and link to Anchor.Hash; From is then ignored.
	Anchor *Head
	// RequireKeyed, with Key, demands that the chain's last event be
	// keyed: a log that has a chain key and has been written by it never
	// ends on an unkeyed event, so one that does was rewritten (or cut
	// back to its unkeyed start) by someone without the key.
	RequireKeyed bool
}

// OK reports whether the chain holds.
func (r *VerifyReport) OK() bool { return len(r.Errors) == 0 }

// err summarises the report as an error wrapping the first ChainError (and
// so ErrCorrupt), or nil.
func (r *VerifyReport) err() error {
	if r.OK() {
		return nil
	}
	first := r.Errors[0]
	if n := len(r.Errors); n > 1 || r.Truncated {
		more := fmt.Sprintf("%d", n-1)
		if r.Truncated {
			more += "+"
		}
		return fmt.Errorf("%w (and %s more)", &first, more)
	}
	return &first
}

func (r *VerifyReport) add(seq uint64, kind, detail string) {
	if len(r.Errors) >= MaxChainErrors {
		r.Truncated = true
		return
	}
	r.Errors = append(r.Errors, ChainError{Seq: seq, Kind: kind, Detail: detail})
}

// walker carries the chain state from one event to the next.
type walker struct {
	rep    VerifyReport
	expect uint64 // next expected seq
	prev   string // hash the next event must link to
	prevOK bool   // whether prev is known (false after a break)
	macKey []byte // chain key, nil when MACs cannot be checked
	keyed  bool   // a keyed event was seen: no unkeyed event may follow
	heads  []Head // signed heads to agree with
	pinned []bool // the event at heads[i].Seq was seen

	requireKeyed bool // the last event must be keyed
	lastKeyed    bool // the last event seen is keyed
}

func newWalker(opts ChainOptions) *walker {
	w := &walker{expect: 1, prev: GenesisPrev, prevOK: true, macKey: opts.Key,
		requireKeyed: opts.RequireKeyed && opts.Key != nil}
	if opts.From > 1 {
		w.expect, w.prevOK = opts.From, false
	}
	if a := opts.Anchor; a != nil {
		w.expect, w.prev, w.prevOK = a.Seq+1, a.Hash, true
	}
	if opts.Head != nil {
		h := *opts.Head
		w.rep.SignedHead = &h
		w.heads = append(w.heads, h)
	}
	w.heads = append(w.heads, opts.Heads...)
	w.pinned = make([]bool, len(w.heads))
	return w
}

func (w *walker) seen(ev *Event) {
	if w.rep.FirstSeq == 0 {
		w.rep.FirstSeq = ev.Seq
	}
	w.rep.LastSeq = ev.Seq
	w.rep.Head = ev.Hash
	for i, h := range w.heads {
		if ev.Seq != h.Seq {
			continue
		}
		w.pinned[i] = true
		if subtle.ConstantTimeCompare([]byte(ev.Hash), []byte(h.Hash)) != 1 {
			w.rep.add(ev.Seq, KindEdited, "the signed head records another hash for this event: the log was rewritten up to here")
		}
	}
}

// keying applies the no-downgrade rule to ev, whose content is checked:
// once a keyed event was seen, every later one must be keyed.
func (w *walker) keying(ev *Event, unchecked bool) {
	w.lastKeyed = ev.MAC != ""
	if ev.MAC != "" {
		w.keyed = true
		w.rep.Keyed++
		if unchecked {
			w.rep.Unchecked++
		}
		return
	}
	if w.keyed {
		w.rep.add(ev.Seq, KindDowngraded, "unkeyed event after a keyed one: it was written without the chain key")
	}
}

// finish checks the walk's end against the signed head.
func (w *walker) finish() {
	if w.requireKeyed && w.rep.LastSeq > 0 && !w.lastKeyed {
		w.rep.add(w.rep.LastSeq, KindDowngraded, "the log ends on an unkeyed event although it has a chain key: it was rewritten or cut back without the key")
	}
	for i, h := range w.heads {
		if w.pinned[i] {
			continue
		}
		if w.rep.LastSeq < h.Seq {
			w.rep.add(w.rep.LastSeq+1, KindTruncated, fmt.Sprintf("the log ends at event %d, before the signed head at %d: events were removed", w.rep.LastSeq, h.Seq))
			continue
		}
		if h.Seq > 0 && (w.rep.FirstSeq == 0 || w.rep.FirstSeq <= h.Seq) {
			w.rep.add(h.Seq, KindRemoved, fmt.Sprintf("event %d of the signed head is missing", h.Seq))
		}
	}
}

// link checks ev (whose content is already checked) against its
// predecessor and advances the state.
func (w *walker) link(ev *Event) {
	if w.prevOK && ev.Prev != w.prev {
		detail := fmt.Sprintf("prev %.64q does not match the hash of event %d", ev.Prev, ev.Seq-1)
		if ev.Seq == 1 {
			detail = fmt.Sprintf("first event's prev %.64q is not the genesis value", ev.Prev)
		} else {
			detail += ": an event before it was removed or rewritten"
		}
		w.rep.add(ev.Seq, KindRemoved, detail)
	}
	w.prev, w.prevOK = ev.Hash, true
	w.expect = ev.Seq + 1
}

func missing(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("event %d is missing", from)
	}
	return fmt.Sprintf("events %d to %d are missing", from, to)
}

// ChainChecker verifies a chain of stored records, given to it in key
// order, as a durable log keeps them: each record under its seq, plus a
// chain head. It checks every record's hash, its canonical form, its key,
// the links between events and, through CheckHead, the head. It never
// trusts the data it is given and never panics on it. The durable log's
// Verify feeds it; VerifyLines walks files with the same chain rules.
//
// A ChainChecker is not safe for concurrent use.
type ChainChecker struct {
	w *walker
}

// NewChainChecker returns a checker expecting the chain to start at seq 1
// with Prev GenesisPrev.
func NewChainChecker() *ChainChecker { return NewChainCheckerWith(ChainOptions{}) }

// NewChainCheckerWith returns a checker with the given key, start and
// signed head (see ChainOptions).
func NewChainCheckerWith(opts ChainOptions) *ChainChecker {
	return &ChainChecker{w: newWalker(opts)}
}

// CheckRecord checks raw, the record stored under key seq. Records must be
// given in increasing key order; a key at or below one already given is
// reported as corrupt, and missing keys as removed events.
func (c *ChainChecker) CheckRecord(seq uint64, raw []byte) { c.w.key(seq, raw) }

// Fail records a break found outside the records themselves, such as an
// unexpected key or an unreadable chain head. Seq 0 refers to the head.
func (c *ChainChecker) Fail(e ChainError) { c.w.rep.add(e.Seq, e.Kind, e.Detail) }

// CheckHead checks the chain head, the seq and hash of the last event as
// the log recorded them, against the records given so far: call it after
// the last CheckRecord, with the head read in the same transaction as the
// last records. A head behind the records, ahead of them (the newest
// events were removed) or recording another hash is a break.
func (c *ChainChecker) CheckHead(seq uint64, hash string) {
	w := c.w
	last := w.expect - 1
	switch {
	case seq > last:
		w.rep.add(last+1, KindRemoved, missing(last+1, seq)+" (the chain head is at "+fmt.Sprint(seq)+")")
	case seq < last:
		w.rep.add(seq+1, KindCorrupt, fmt.Sprintf("events after the chain head (%d) up to %d", seq, last))
	case w.rep.Events > 0 && w.prevOK && hash != w.prev:
		w.rep.add(last, KindEdited, "chain head records another hash for the last event: it was rewritten")
	}
}

// Report returns the outcome of the walk so far: the report, and when the
// chain is broken an error wrapping the first *ChainError (and so
// ErrCorrupt), which the report's Errors list in seq order.
func (c *ChainChecker) Report() (*VerifyReport, error) { c.w.finish(); return c.w.report() }

// report sorts the breaks found and returns the report with its error.
func (w *walker) report() (*VerifyReport, error) {
	slices.SortStableFunc(w.rep.Errors, func(a, b ChainError) int { return cmpSeq(a.Seq, b.Seq) })
	rep := w.rep
	return &rep, rep.err()
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// key checks the record stored under key seq.
func (w *walker) key(seq uint64, v []byte) {
	w.rep.Events++
	if seq < w.expect {
		w.rep.add(seq, KindCorrupt, fmt.Sprintf("unexpected key %d", seq))
		return
	}
	if seq > w.expect {
		w.rep.add(w.expect, KindRemoved, missing(w.expect, seq-1))
		w.prevOK = false
	}
	w.expect = seq + 1
	ev, kind, detail, unchecked := check(v, w.macKey)
	if ev == nil {
		w.rep.add(seq, kind, detail)
		w.prevOK = false
		return
	}
	w.seen(ev)
	if ev.Seq != seq {
		w.rep.add(seq, KindReordered, fmt.Sprintf("key %d holds event %d", seq, ev.Seq))
		w.prevOK = false
		return
	}
	if kind != "" {
		w.rep.add(seq, kind, detail)
	}
	w.keying(ev, unchecked)
	w.link(ev)
}

// VerifyLines verifies a JSON-lines file, such as an export of the durable
// log or the output of JSONLines, the way the durable log's Verify checks
// the database: every line is checked against its hash and
// canonical form, and consecutive events must have consecutive seqs and
// link by hash. Blank lines are ignored; lines are limited to MaxLineSize.
//
// The file may start after seq 1 (an export with AfterSeq): its first event
// is then taken as the anchor. Compare the report's FirstSeq, LastSeq and
// Head with a trusted copy of the head to detect a file cut short at either
// end. A filtered export (by agent, action, time...) has gaps by design
// and does not verify.
//
// Errors are as for the durable log's Verify: a non-nil report with an error wrapping
// ErrCorrupt when the chain is broken, a nil report on read errors.
func VerifyLines(r io.Reader) (*VerifyReport, error) { return VerifyLinesWith(r, ChainOptions{}) }

// VerifyLinesWith is VerifyLines with a chain key (to check keyed events'
// MACs) and signed heads to check the file against; opts.From is
// ignored, the file's first event being the anchor unless opts.Anchor
// says where the file must start. Without a key, keyed
// events are checked for form and links and counted in
// VerifyReport.Unchecked: someone who rewrote the file could have
// recomputed their chain values, which only the key or a signed head
// exposes.
func VerifyLinesWith(r io.Reader, opts ChainOptions) (*VerifyReport, error) {
	opts.From = 0
	w := newWalker(opts)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4<<10), MaxLineSize)
	var gaps []gap // missing seqs seen so far; an event may still turn up late
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(raw) == 0 {
			continue
		}
		w.rep.Events++
		ev, kind, detail, unchecked := check(raw, w.macKey)
		if ev == nil {
			w.rep.add(w.expect, kind, fmt.Sprintf("line %d: %s", line, detail))
			w.expect++
			w.prevOK = false
			continue
		}
		first := w.rep.FirstSeq == 0
		if kind != "" {
			w.rep.add(ev.Seq, kind, fmt.Sprintf("line %d: %s", line, detail))
		}
		switch {
		case first && opts.Anchor != nil:
			// The chain resumes after a pruned prefix: the first event
			// must follow the anchor and link to it.
			if ev.Seq != w.expect {
				w.rep.add(w.expect, KindRemoved, fmt.Sprintf("line %d: the first event is %d, the pruned prefix ends at %d", line, ev.Seq, w.expect-1))
				w.prevOK = false
			}
		case first:
			// The anchor: link checked only if it claims to be the first event.
			w.prevOK = ev.Seq == 1
		case ev.Seq < w.expect:
			if i := slices.IndexFunc(gaps, func(g gap) bool { return g.from <= ev.Seq && ev.Seq <= g.to }); i >= 0 {
				gaps = gaps[i].remove(gaps, i, ev.Seq)
				w.rep.add(ev.Seq, KindReordered, fmt.Sprintf("line %d: event %d appears after event %d", line, ev.Seq, w.expect-1))
			} else {
				w.rep.add(ev.Seq, KindReordered, fmt.Sprintf("line %d: event %d appears again, or out of order, after event %d", line, ev.Seq, w.expect-1))
			}
			continue // the chain state stays with the highest event
		case ev.Seq > w.expect:
			if len(gaps) < MaxChainErrors {
				gaps = append(gaps, gap{w.expect, ev.Seq - 1})
			} else {
				w.rep.add(w.expect, KindRemoved, missing(w.expect, ev.Seq-1))
			}
			w.prevOK = false
		}
		w.seen(ev)
		w.keying(ev, unchecked)
		w.link(ev)
		if w.expect == 0 { // seq overflow
			break
		}
	}
	if err := sc.Err(); err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			return nil, errorf("verify lines: %w", err)
		}
		w.rep.add(w.expect, KindCorrupt, fmt.Sprintf("line %d is longer than %d bytes", line+1, MaxLineSize))
	}
	for _, g := range gaps {
		w.rep.add(g.from, KindRemoved, missing(g.from, g.to))
	}
	w.finish()
	return w.report()
}

// gap is an inclusive range of missing seqs.
type gap struct{ from, to uint64 }

// remove takes seq out of gaps[i], splitting or dropping the range.
func (g gap) remove(gaps []gap, i int, seq uint64) []gap {
	switch {
	case g.from == g.to:
		return slices.Delete(gaps, i, i+1)
	case seq == g.from:
		gaps[i].from++
	case seq == g.to:
		gaps[i].to--
	default:
		gaps[i].to = seq - 1
		gaps = slices.Insert(gaps, i+1, gap{seq + 1, g.to})
	}
	return gaps
}
