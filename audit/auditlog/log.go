package auditlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// bucketName is the bucket holding the log: events under their
// big-endian sequence number, and the chain head under headKey.
const bucketName = "audit"

// headKey holds the chain head: 8 bytes big-endian seq of the last event,
// then its 32-byte SHA-256. It is not 8 bytes long, so it never collides
// with an event key, and it sorts after every realistic one.
var headKey = []byte("\xffhead")

const headLen = 8 + 32

// Options configures a Log. The zero value (or nil) is usable.
type Options struct {
	// Now is the clock used to timestamp events whose Time is zero, and as
	// the end of the Summary window. Nil means time.Now.
	Now func() time.Time
	// Key is the chain key (keystore.IntegrityKeys.Audit): every event
	// appended is sealed with HMAC-SHA256 under it, and Verify checks
	// keyed events' MACs. Nil keeps the unkeyed SHA-256 chain of earlier
	// releases, for tests and tools without the master key.
	Key []byte
}

// Log is the hash-chained audit log kept in a store.Store. It is safe
// for concurrent use. A Log holds no chain state in memory: every append
// reads the head inside its transaction, so a rolled-back transaction can
// never leave the log and its bookkeeping out of step.
type Log struct {
	db  store.Store
	now func() time.Time
	key []byte

	// Group commit for Append: callers queue their events and wait; one
	// writer goroutine commits everything queued in one transaction (one
	// fsync), then the next lot. There is no batching delay: a lone
	// caller is committed at once, and under load each fsync carries every
	// event that arrived during the previous one.
	mu       sync.Mutex
	queue    []*pending
	waiting  int   // entries of queue someone waits for (done != nil)
	chainErr error // the chain refused a journaled entry; see failJournal
	// stalled is set while the store cannot take journaled entries (a
	// full disk): they are kept in order and retried; Record refuses
	// until a retry commits.
	stalled error
	wake    chan struct{}
	// hurry cuts a journal-only gather short: a caller now waits for
	// the chain (see writer).
	hurry   chan struct{}
	startWr sync.Once

	// j, when OpenJournal was called, takes Record's events: see
	// journal.go.
	j *journal
	// mark is the key of j's applied mark (JournalOptions.Name).
	mark []byte
}

// pending is a queued event. done is nil for a journaled event nobody
// waits for; wal is its journal entry number (0: not journaled). A
// barrier carries no event: it is answered once everything queued before
// it is committed (Flush).
type pending struct {
	ev      audit.Event
	done    chan error
	wal     uint64
	barrier bool
}

// Open returns a Log over db. Durability of Append rests on db's: it
// returns once the store says the commit is durable.
func Open(db store.Store, opts *Options) (*Log, error) {
	if db == nil {
		return nil, errorf("open: nil database")
	}
	l := &Log{db: db, now: time.Now}
	if opts != nil && opts.Now != nil {
		l.now = opts.Now
	}
	if opts != nil && opts.Key != nil {
		if len(opts.Key) < 32 {
			return nil, errorf("open: chain key is %d bytes, want at least 32", len(opts.Key))
		}
		l.key = bytes.Clone(opts.Key)
	}
	return l, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// head is the last event's seq and hash; seq 0 means an empty log.
type head struct {
	seq  uint64
	hash string
}

// readHead decodes the chain head of bucket b. An absent head means an
// empty log, and is checked against the bucket having no events.
func readHead(b store.Bucket) (head, error) {
	v := b.Get(headKey)
	if v == nil {
		found := false
		if err := b.Range(nil, func(_, _ []byte) error { found = true; return store.Stop }); err != nil {
			return head{}, err
		}
		if found {
			return head{}, &audit.ChainError{Kind: audit.KindCorrupt, Detail: "events present but chain head missing"}
		}
		return head{hash: audit.GenesisPrev}, nil
	}
	if len(v) != headLen {
		return head{}, &audit.ChainError{Kind: audit.KindCorrupt, Detail: fmt.Sprintf("chain head is %d bytes, want %d", len(v), headLen)}
	}
	return head{seq: binary.BigEndian.Uint64(v[:8]), hash: hex.EncodeToString(v[8:])}, nil
}

func writeHead(b store.Bucket, seq uint64, hash string) error {
	v := make([]byte, 8, headLen)
	binary.BigEndian.PutUint64(v, seq)
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != 32 {
		return errorf("bad hash %q", hash)
	}
	return b.Put(headKey, append(v, raw...))
}

// sequential tells the store that keys only ever grow, so that it may
// pack them (bbolt fills pages rather than splitting them in half, which
// halves the pages a commit writes and the file's size).
func sequential(b store.Bucket) store.Bucket {
	if s, ok := b.(store.Sequential); ok {
		s.Sequential()
	}
	return b
}

// AppendTx appends ev inside the caller's writable transaction, so that the
// event commits or rolls back with the caller's operation. It sets ev.Seq,
// ev.Prev and ev.Hash (and ev.Time when zero); those values are meaningful
// only once tx commits.
//
// An error from AppendTx must fail the caller's transaction: returning it
// from the Update function is enough.
func (l *Log) AppendTx(tx store.Tx, ev *audit.Event) error {
	if tx == nil || !tx.Writable() {
		return errorf("append: transaction is not writable")
	}
	if ev == nil {
		return fmt.Errorf("%w: nil event", audit.ErrInvalidEvent)
	}
	if err := audit.Prepare(ev, l.now); err != nil {
		return err
	}
	b := sequential(tx.Bucket(bucketName))
	h, err := readHead(b)
	if err != nil {
		return err
	}
	ev.Seq = h.seq + 1
	ev.Prev = h.hash
	rec, err := audit.SealKeyed(ev, l.key)
	if err != nil {
		return err
	}
	key := seqKey(ev.Seq)
	if b.Get(key) != nil {
		// The head lags behind the events: never overwrite a record.
		return &audit.ChainError{Seq: ev.Seq, Kind: audit.KindCorrupt, Detail: "an event already exists beyond the chain head"}
	}
	if err := b.Put(key, rec); err != nil {
		return errorf("append: %w", err)
	}
	if err := writeHead(b, ev.Seq, ev.Hash); err != nil {
		return errorf("append: %w", err)
	}
	return nil
}

// appendLot is AppendTx for several events: the chain head is read once,
// checked once for records past it, and written once. A non-zero wal is
// the last journal entry among evs: the journal's applied mark moves to it
// in the same transaction.
func (l *Log) appendLot(tx store.Tx, evs []audit.Event, wal uint64) error {
	if wal > 0 {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], wal)
		if err := tx.Bucket(journalBucket).Put(l.markKey(), v[:]); err != nil {
			return errorf("append: %w", err)
		}
	}
	b := sequential(tx.Bucket(bucketName))
	h, err := readHead(b)
	if err != nil {
		return err
	}
	// Record keys sort before the head key: any key between the head's
	// next seq and the head key means the head lags behind the events.
	beyond := false
	if err := b.Range(seqKey(h.seq+1), func(k, _ []byte) error {
		beyond = !bytes.Equal(k, headKey)
		return store.Stop
	}); err != nil {
		return errorf("append: %w", err)
	}
	if beyond {
		return &audit.ChainError{Seq: h.seq + 1, Kind: audit.KindCorrupt, Detail: "an event already exists beyond the chain head"}
	}
	for i := range evs {
		ev := &evs[i]
		if err := audit.Prepare(ev, l.now); err != nil {
			return err
		}
		ev.Seq = h.seq + 1
		ev.Prev = h.hash
		rec, err := audit.SealKeyed(ev, l.key)
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(ev.Seq), rec); err != nil {
			return errorf("append: %w", err)
		}
		h = head{seq: ev.Seq, hash: ev.Hash}
	}
	if err := writeHead(b, h.seq, h.hash); err != nil {
		return errorf("append: %w", err)
	}
	return nil
}

// Append durably appends ev in its own transaction and sets ev.Seq,
// ev.Time, ev.Prev and ev.Hash. Concurrent calls are coalesced by one
// writer goroutine into few commits (group commit, see the package
// documentation); Append returns only after the commit that holds ev.
//
// ctx is checked before the event is queued. Once queued, Append waits for
// the commit whatever happens to ctx, so that its result is always true.
func (l *Log) Append(ctx context.Context, ev *audit.Event) error {
	if ev == nil {
		return fmt.Errorf("%w: nil event", audit.ErrInvalidEvent)
	}
	if err := ctx.Err(); err != nil {
		return errorf("append: %w", err)
	}
	l.startWriter()
	p := &pending{ev: *ev, done: make(chan error, 1)}
	l.mu.Lock()
	l.queue = append(l.queue, p)
	l.waiting++
	l.mu.Unlock()
	l.kickWriter()
	l.hurryWriter()
	// Once queued, the event is committed or refused as a whole; waiting
	// for the outcome (and not for ctx) keeps the caller from reporting a
	// failure for an event that is then written.
	if err := <-p.done; err != nil {
		return err
	}
	*ev = p.ev
	return nil
}

func (l *Log) startWriter() {
	l.startWr.Do(func() {
		l.wake = make(chan struct{}, 1)
		l.hurry = make(chan struct{}, 1)
		go l.writer()
	})
}

// hurryWriter tells a writer gathering journaled events that someone now
// waits for the chain. Call it after queueing an entry with done set.
func (l *Log) hurryWriter() {
	select {
	case l.hurry <- struct{}{}:
	default:
	}
}

func (l *Log) kickWriter() {
	l.startWriter()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// writer commits queued events, one transaction per lot. It runs for the
// life of the process once Append was first called; it holds no resources
// while idle.
//
// Under continuous load (the previous commit ended moments ago) it lets a
// lot gather for up to gatherWindow before committing: a commit costs
// about as much CPU as dozens of events, so fewer, fuller commits leave
// more CPU for the callers. An idle log commits a lone event at once.
func (l *Log) writer() {
	var lastCommit time.Time
	for range l.wake {
		for {
			l.mu.Lock()
			n, waiting := len(l.queue), l.waiting
			l.mu.Unlock()
			switch {
			case n > 0 && waiting == 0 && l.j != nil:
				// Only journaled events, which nobody waits for: they
				// are safe in the journal, so gather longer and spend
				// fewer commits (and fdatasyncs) on them, until someone
				// waits (Append, Flush, a reader, backpressure).
				t := time.NewTimer(journalGather)
				select {
				case <-t.C:
				case <-l.hurry:
					t.Stop()
				}
			case n > 0 && n < gatherMax && time.Since(lastCommit) < busyGap:
				time.Sleep(gatherWindow)
			}
			l.mu.Lock()
			lot := l.queue
			l.queue, l.waiting = nil, 0
			l.mu.Unlock()
			if len(lot) == 0 {
				break
			}
			l.commit(lot)
			lastCommit = time.Now()
			l.mu.Lock()
			stalled := l.stalled != nil
			l.mu.Unlock()
			if stalled {
				break // retried when stall's timer kicks the writer
			}
		}
	}
}

// errorf formats an error with the prefix of the audit package, whose
// errors these were before the log moved here: callers and logs see one
// prefix for every audit failure.
func errorf(format string, args ...any) error {
	return fmt.Errorf("audit: "+format, args...)
}

// Group commit tuning: see writer.
const (
	busyGap      = 5 * time.Millisecond
	gatherWindow = 2 * time.Millisecond
	gatherMax    = 256
	// journalGather is how long a lot of journaled events only may
	// gather; a waiter (Append, Flush) arriving meanwhile ends the gather.
	journalGather = 50 * time.Millisecond
)

// commit appends a lot in one transaction, then answers the barriers in
// it. If the transaction fails, each event is retried alone, so that one
// bad event fails only its caller. A journaled event the chain refuses
// fails the journal (failJournal): it and every later one stay in the
// journal, for the next start, and Record refuses from then on.
func (l *Log) commit(lot []*pending) {
	evs := make([]*pending, 0, len(lot))
	var bars []*pending
	for _, p := range lot {
		if p.barrier {
			bars = append(bars, p)
		} else {
			evs = append(evs, p)
		}
	}
	if len(evs) > 0 {
		l.commitEvents(evs)
	}
	l.mu.Lock()
	err := l.chainErr
	if err == nil {
		err = l.stalled
	}
	l.mu.Unlock()
	for _, b := range bars {
		b.done <- err
	}
}

func (l *Log) commitEvents(lot []*pending) {
	l.mu.Lock()
	chainErr := l.chainErr
	l.mu.Unlock()
	if chainErr != nil {
		// Journaled events wait in the journal for the next start;
		// Append's callers are told.
		keep := lot[:0]
		for _, p := range lot {
			if p.wal == 0 {
				keep = append(keep, p)
			} else if p.done != nil {
				p.done <- chainErr
			}
		}
		lot = keep
		if len(lot) == 0 {
			return
		}
	}
	done := make([]audit.Event, len(lot))
	var wal uint64
	for i, p := range lot {
		done[i] = p.ev
		wal = max(wal, p.wal)
	}
	err := l.db.Update(context.Background(), func(tx store.Tx) error { return l.appendLot(tx, done, wal) })
	if err == nil {
		if wal > 0 {
			l.j.applied.Store(wal)
			l.mu.Lock()
			l.stalled = nil
			l.mu.Unlock()
		}
		for i, p := range lot {
			p.ev = done[i]
			if p.done != nil {
				p.done <- nil
			}
		}
		return
	}
	if wal > 0 && errors.Is(err, store.ErrUnavailable) {
		// The store cannot write (a full disk): the journaled entries are
		// safe in the journal. Keep them, in order, and try again soon;
		// Record refuses meanwhile, so that the backlog does not grow.
		l.stall(lot, errorf("append: %w: %w", audit.ErrUnavailable, err))
		return
	}
	if len(lot) == 1 {
		var ce *audit.ChainError
		if !errors.As(err, &ce) && !errors.Is(err, audit.ErrInvalidEvent) {
			err = errorf("append: %w: %w", audit.ErrUnavailable, err)
		}
		if lot[0].wal != 0 {
			l.failJournal(err)
		}
		if lot[0].done != nil {
			lot[0].done <- err
		}
		return
	}
	for _, p := range lot {
		l.commitEvents([]*pending{p})
	}
}

// Record implements [audit.Sink]. Without a journal it is Append. With one
// (OpenJournal) it returns once the event is written to the journal file
// (one write(2): a killed process loses none), durable within the
// journal's sync interval, and in the chain moments later; ev's Seq, Prev
// and Hash are then not set. A journal that failed makes Record fail with
// an error wrapping audit.ErrUnavailable: the decision must not be acted
// on.
func (l *Log) Record(ctx context.Context, ev *audit.Event) error {
	if l.j != nil {
		return l.record(ctx, ev)
	}
	return l.Append(ctx, ev)
}

// Head returns the sequence number and hash of the last event (0 and
// [audit.GenesisPrev] for an empty log). Publishing the head elsewhere from
// time to time anchors the chain: whoever can write the database can rewrite the
// whole chain consistently, but not the copies of the head kept outside it.
func (l *Log) Head(ctx context.Context) (seq uint64, hash string, err error) {
	if err := ctx.Err(); err != nil {
		return 0, "", errorf("head: %w", err)
	}
	if err := l.settle(ctx); err != nil {
		return 0, "", errorf("head: %w", err)
	}
	err = l.db.View(ctx, func(tx store.Tx) error {
		h, err := readHead(tx.Bucket(bucketName))
		seq, hash = h.seq, h.hash
		return err
	})
	if err != nil {
		var ce *audit.ChainError
		if errors.As(err, &ce) {
			return 0, "", err
		}
		return 0, "", errorf("head: %w", err)
	}
	return seq, hash, nil
}
