package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// The journal makes Record fast without making it less safe: Record writes
// the event to an append-only file with one write(2) and returns; the
// writer goroutine then appends it to the chain in the store, off the
// request path, and records in the same transaction how far the journal
// has been applied. A background goroutine fdatasyncs the journal within
// JournalOptions.SyncInterval. After a crash, OpenJournal appends to the
// chain, in journal order, every entry past the applied mark: none is lost
// (a killed process's writes are in the OS) and none is appended twice.

// journalBucket holds the journal's applied mark under appliedKey: the
// 8-byte big-endian number of the last journal entry appended to the chain.
const journalBucket = "audit.journal"

var appliedKey = []byte("applied")

// Journal defaults.
const (
	DefaultSyncInterval   = 2 * time.Millisecond
	DefaultJournalMaxSize = 16 << 20
	DefaultMaxQueued      = 1 << 16
)

// ErrJournal reports a journal that cannot be replayed: an entry in the
// middle of a file is unreadable or fails its MAC, or entries are out of
// order. The server refuses to start on it; the journal files are left as
// they are for investigation.
var ErrJournal = errors.New("audit: journal corrupt")

// JournalOptions configures OpenJournal. The zero value is usable.
type JournalOptions struct {
	// SyncInterval is how long written entries may wait for fdatasync:
	// DefaultSyncInterval by default. An entry Record acknowledged is
	// durable within SyncInterval plus two fdatasyncs of the journal.
	SyncInterval time.Duration
	// MaxSize is the size at which a journal file is closed and a new
	// one started (DefaultJournalMaxSize by default). Files whose every
	// entry is in the chain are deleted.
	MaxSize int64
	// MaxQueued bounds the entries written but not yet in the chain
	// (DefaultMaxQueued by default): past it, Record waits for the
	// store, as Append does.
	MaxQueued int
	// Name tells apart the journals of several processes that share one
	// store (replicas on one database): each keeps its own applied mark.
	// Empty for the one journal of an embedded store.
	Name string
}

// journal is the append-only file set behind Record.
type journal struct {
	dir      string
	key      []byte // HMAC key of entries; nil for unkeyed logs
	interval time.Duration
	maxSize  int64
	maxQ     int

	mu      sync.Mutex // guards everything below, and orders writes with the queue
	f       *os.File
	first   uint64 // first entry number of f
	size    int64
	next    uint64  // number of the next entry
	old     []jfile // closed files, oldest first
	failed  error   // sticky: a write or sync failed; Record refuses
	buf     []byte
	mac     hash.Hash     // write's HMAC under key, Reset for each entry
	applied atomic.Uint64 // last entry in the chain, for pruning files
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

type jfile struct {
	path string
	last uint64 // last entry number in it
}

func journalName(first uint64) string { return fmt.Sprintf("journal-%020d.log", first) }

// journalKey derives the journal's MAC key from the chain key, so that a
// journal line can never pass for a chain record or the reverse.
func journalKey(chain []byte) []byte {
	if chain == nil {
		return nil
	}
	m := hmac.New(sha256.New, chain)
	m.Write([]byte("agentid audit journal v1"))
	return m.Sum(nil)
}

// OpenJournal puts a journal in dir (created 0700 if absent) in front of
// the log: from then on Record writes each event to the journal and
// returns without waiting for a commit. Entries left by an earlier process
// that are not in the chain yet are appended first, in order, in one
// transaction; a torn last line (a write cut by a power loss, never
// acknowledged) is cut off. A journal that is otherwise unreadable fails
// with ErrJournal and a log that cannot be written with
// audit.ErrUnavailable.
//
// Call it once, before the log is shared (before the first Record), and
// Close to flush the journal into the chain and stop its goroutines.
func (l *Log) OpenJournal(ctx context.Context, dir string, opts *JournalOptions) error {
	if l.j != nil {
		return errorf("journal: already open")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errorf("journal: %w", err)
	}
	j := &journal{dir: dir, key: journalKey(l.key), interval: DefaultSyncInterval, maxSize: DefaultJournalMaxSize,
		maxQ: DefaultMaxQueued, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	if opts != nil {
		if opts.SyncInterval > 0 {
			j.interval = opts.SyncInterval
		}
		if opts.MaxSize > 0 {
			j.maxSize = opts.MaxSize
		}
		if opts.MaxQueued > 0 {
			j.maxQ = opts.MaxQueued
		}
	}
	if opts != nil && opts.Name != "" {
		l.mark = []byte("applied/" + opts.Name)
	}
	applied, err := l.applied(ctx)
	if err != nil {
		return err
	}
	last, err := l.replay(ctx, j, applied)
	if err != nil {
		return err
	}
	j.next = max(applied, last) + 1
	j.applied.Store(max(applied, last))
	if err := j.open(); err != nil {
		return err
	}
	j.prune(max(applied, last))
	l.j = j
	go j.syncer()
	return nil
}

// applied reads the journal's applied mark.
func (l *Log) applied(ctx context.Context) (uint64, error) {
	var n uint64
	err := l.db.View(ctx, func(tx store.Tx) error {
		v := tx.Bucket(journalBucket).Get(l.markKey())
		switch len(v) {
		case 0:
		case 8:
			n = binary.BigEndian.Uint64(v)
		default:
			return fmt.Errorf("%w: applied mark is %d bytes", ErrJournal, len(v))
		}
		return nil
	})
	if err != nil {
		return 0, errorf("journal: %w", err)
	}
	return n, nil
}

// replay appends the journal's entries past applied to the chain and
// returns the last entry number found in the files.
func (l *Log) replay(ctx context.Context, j *journal, applied uint64) (uint64, error) {
	names, err := filepath.Glob(filepath.Join(j.dir, "journal-*.log"))
	if err != nil {
		return 0, errorf("journal: %w", err)
	}
	slices.Sort(names)
	var last uint64
	var todo []audit.Event
	for i, name := range names {
		evs, lastInFile, err := j.read(name, last, applied, i == len(names)-1)
		if err != nil {
			return 0, err
		}
		todo = append(todo, evs...)
		if lastInFile > 0 {
			last = lastInFile
			j.old = append(j.old, jfile{path: name, last: lastInFile})
		} else {
			j.old = append(j.old, jfile{path: name, last: last})
		}
	}
	if len(todo) == 0 {
		return last, nil
	}
	if err := l.db.Update(ctx, func(tx store.Tx) error { return l.appendLot(tx, todo, last) }); err != nil {
		return 0, errorf("journal: replaying %d entries: %w: %w", len(todo), audit.ErrUnavailable, err)
	}
	return last, nil
}

// read parses one journal file. Entries must number on from prev; those
// after applied are returned. A bad last line of the last file is cut off.
func (j *journal) read(name string, prev, applied uint64, lastFile bool) ([]audit.Event, uint64, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, errorf("journal: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var evs []audit.Event
	var off int64
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, 0, fmt.Errorf("%w: %s: line at offset %d is too long", ErrJournal, name, off)
		}
		if err == io.EOF {
			if len(line) > 0 {
				if !lastFile {
					return nil, 0, fmt.Errorf("%w: %s: unterminated line at offset %d", ErrJournal, name, off)
				}
				// A torn write, never acknowledged: cut it off.
				if terr := f.Truncate(off); terr != nil {
					return nil, 0, errorf("journal: %w", terr)
				}
			}
			return evs, prev, nil
		}
		if err != nil {
			return nil, 0, errorf("journal: %w", err)
		}
		n, ev, perr := j.parse(line)
		if perr != nil {
			return nil, 0, fmt.Errorf("%w: %s: offset %d: %v", ErrJournal, name, off, perr)
		}
		if prev != 0 && n != prev+1 {
			return nil, 0, fmt.Errorf("%w: %s: entry %d follows entry %d", ErrJournal, name, n, prev)
		}
		prev = n
		if n > applied {
			evs = append(evs, *ev)
		}
		off += int64(len(line))
	}
}

// encode appends the journal line of entry n to buf: the entry number in
// decimal, the hex HMAC of the rest of the line (or "-" unkeyed), then the
// event as JSON, then "\n".
func (j *journal) encode(buf []byte, n uint64, ev []byte) []byte {
	return j.encodeWith(nil, buf, n, ev)
}

// encodeWith is encode with m, when not nil, an HMAC under j.key to reuse
// (Reset keeps its keyed state: no new key schedule per entry).
func (j *journal) encodeWith(m hash.Hash, buf []byte, n uint64, ev []byte) []byte {
	buf = strconv.AppendUint(buf, n, 10)
	buf = append(buf, ' ')
	if j.key == nil {
		buf = append(buf, '-')
	} else {
		if m == nil {
			m = hmac.New(sha256.New, j.key)
		} else {
			m.Reset()
		}
		var nb [8]byte
		binary.BigEndian.PutUint64(nb[:], n)
		m.Write(nb[:])
		m.Write(ev)
		var sum [sha256.Size]byte
		buf = hex.AppendEncode(buf, m.Sum(sum[:0]))
	}
	buf = append(buf, ' ')
	buf = append(buf, ev...)
	return append(buf, '\n')
}

func (j *journal) parse(line []byte) (uint64, *audit.Event, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	a, rest, ok1 := bytes.Cut(line, []byte(" "))
	mac, body, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 {
		return 0, nil, errors.New("not a journal entry")
	}
	n, err := strconv.ParseUint(string(a), 10, 64)
	if err != nil || n == 0 {
		return 0, nil, errors.New("bad entry number")
	}
	if j.key != nil {
		want := j.encode(nil, n, body)
		if !hmac.Equal(want, append(append([]byte(nil), line...), '\n')) {
			return 0, nil, fmt.Errorf("entry %d fails its MAC", n)
		}
	} else if string(mac) != "-" {
		return 0, nil, fmt.Errorf("entry %d is keyed but the log has no key", n)
	}
	ev := new(audit.Event)
	if err := json.Unmarshal(body, ev); err != nil {
		return 0, nil, fmt.Errorf("entry %d: %v", n, err)
	}
	return n, ev, nil
}

// open starts a new journal file at entry j.next.
func (j *journal) open() error {
	name := filepath.Join(j.dir, journalName(j.next))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return errorf("journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return errorf("journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return errorf("journal: %w", err)
	}
	j.f, j.first, j.size = f, j.next, st.Size()
	return nil
}

// prune deletes closed files whose every entry is at or below applied.
func (j *journal) prune(applied uint64) {
	keep := j.old[:0]
	for _, o := range j.old {
		if o.last <= applied && (j.f == nil || o.path != j.f.Name()) {
			if err := os.Remove(o.path); err == nil || errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
		keep = append(keep, o)
	}
	j.old = keep
}

// write journals ev as entry j.next; the caller holds j.mu.
func (j *journal) write(ev []byte) (uint64, error) {
	if j.failed != nil {
		return 0, j.failed
	}
	if j.size >= j.maxSize {
		if err := j.rotate(); err != nil {
			j.failed = errorf("journal: %w: %w", audit.ErrUnavailable, err)
			return 0, j.failed
		}
	}
	n := j.next
	if j.mac == nil && j.key != nil {
		j.mac = hmac.New(sha256.New, j.key)
	}
	j.buf = j.encodeWith(j.mac, j.buf[:0], n, ev)
	w, err := j.f.Write(j.buf)
	if err != nil {
		// A full disk: cut off what part of the line was written, so the
		// file ends on a whole entry, and refuse this one only. If the
		// file cannot be cut, nothing more can be appended after the
		// partial line: refuse from now on (the next start cuts it off).
		if w > 0 {
			if terr := j.f.Truncate(j.size); terr != nil {
				j.size += int64(w)
				j.failed = errorf("journal: %w: %w", audit.ErrUnavailable, err)
				return 0, j.failed
			}
		}
		return 0, errorf("journal: %w: %w", audit.ErrUnavailable, err)
	}
	j.size += int64(w)
	j.next++
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return n, nil
}

// rotate syncs and closes the current file and opens the next.
func (j *journal) rotate() error {
	if err := fdatasync(j.f); err != nil {
		return err
	}
	if err := j.f.Close(); err != nil {
		return err
	}
	j.old = append(j.old, jfile{path: j.f.Name(), last: j.next - 1})
	if err := j.open(); err != nil {
		return err
	}
	j.prune(j.applied.Load())
	return nil
}

// syncer fdatasyncs the journal within interval of a write.
func (j *journal) syncer() {
	defer close(j.stopped)
	for {
		select {
		case <-j.stop:
			return
		case <-j.kick:
		}
		time.Sleep(j.interval)
		j.mu.Lock()
		f := j.f
		j.mu.Unlock()
		if err := fdatasync(f); err != nil {
			j.mu.Lock()
			// A file rotated away meanwhile was fdatasynced by rotate
			// before it was closed: the error (a closed file) says
			// nothing about its entries. Only a failure on the current
			// file counts.
			if j.f == f && j.failed == nil {
				j.failed = errorf("journal: sync: %w: %w", audit.ErrUnavailable, err)
			}
			j.mu.Unlock()
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// record journals ev and queues it for the chain. It returns once the
// entry is written to the OS.
func (l *Log) record(ctx context.Context, ev *audit.Event) error {
	if ev == nil {
		return fmt.Errorf("%w: nil event", audit.ErrInvalidEvent)
	}
	if err := ctx.Err(); err != nil {
		return errorf("record: %w", err)
	}
	c := *ev
	if err := audit.Prepare(&c, l.now); err != nil {
		return err
	}
	c.Seq, c.Prev, c.Hash, c.MAC = 0, "", "", ""
	// The bytes json.Marshal gives, without its reflection.
	body, err := audit.AppendJSON(make([]byte, 0, 512), &c)
	if err != nil {
		return fmt.Errorf("%w: %v", audit.ErrInvalidEvent, err)
	}
	if len(body) > audit.MaxEventSize-512 {
		return fmt.Errorf("%w: %d bytes encoded, limit %d", audit.ErrInvalidEvent, len(body), audit.MaxEventSize-512)
	}
	l.mu.Lock()
	stalled := l.stalled
	l.mu.Unlock()
	if stalled != nil {
		return stalled
	}
	j := l.j
	p := &pending{ev: c}
	j.mu.Lock()
	n, err := j.write(body)
	if err != nil {
		j.mu.Unlock()
		return err
	}
	p.wal = n
	l.mu.Lock()
	l.queue = append(l.queue, p)
	full := len(l.queue) >= j.maxQ
	if full {
		p.done = make(chan error, 1)
		l.waiting++
	}
	l.mu.Unlock()
	j.mu.Unlock()
	l.kickWriter()
	if full {
		l.hurryWriter()
		// Backpressure: wait for the store like Append. The entry is
		// journaled: whatever the store says, it is not lost.
		if err := <-p.done; err != nil {
			return err
		}
	}
	*ev = c
	return nil
}

// stall puts lot back at the head of the queue, to be committed again in a
// moment, and makes Record refuse with err until a commit succeeds.
func (l *Log) stall(lot []*pending, err error) {
	l.mu.Lock()
	l.stalled = err
	for _, p := range lot {
		if p.done != nil {
			l.waiting++
		}
	}
	l.queue = append(append([]*pending(nil), lot...), l.queue...)
	l.mu.Unlock()
	time.AfterFunc(stallRetry, l.kickWriter)
}

// stallRetry is how often a stalled chain is retried.
const stallRetry = 250 * time.Millisecond

// failJournal makes Record refuse from now on: the chain could not take a
// journaled entry. The entries stay in the journal for the next start.
func (l *Log) failJournal(err error) {
	l.j.mu.Lock()
	if l.j.failed == nil {
		l.j.failed = errorf("journal: the chain cannot be written: %w: %w", audit.ErrUnavailable, err)
	}
	l.j.mu.Unlock()
	l.mu.Lock()
	if l.chainErr == nil {
		l.chainErr = err
	}
	l.mu.Unlock()
}

// Close flushes the journal into the chain, syncs it, and stops the
// journal's goroutines; Record refuses afterwards. A Log without a journal
// has nothing to close.
func (l *Log) Close(ctx context.Context) error {
	j := l.j
	if j == nil {
		return nil
	}
	j.mu.Lock()
	if j.failed == nil {
		j.failed = errorf("record: %w: log closed", audit.ErrUnavailable)
	}
	j.mu.Unlock()
	err := l.Flush(ctx)
	close(j.stop)
	<-j.stopped
	j.mu.Lock()
	defer j.mu.Unlock()
	if serr := fdatasync(j.f); serr != nil && err == nil {
		err = errorf("journal: %w", serr)
	}
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = errorf("journal: %w", cerr)
	}
	return err
}

// Flush waits until every event recorded before it is in the chain.
func (l *Log) Flush(ctx context.Context) error {
	l.startWriter()
	p := &pending{barrier: true, done: make(chan error, 1)}
	l.mu.Lock()
	l.queue = append(l.queue, p)
	l.waiting++
	l.mu.Unlock()
	l.kickWriter()
	l.hurryWriter()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return errorf("flush: %w", ctx.Err())
	}
}

// settle lets readers see what Record acknowledged: with a journal, it
// waits until every event recorded before it is in the chain. A chain
// that refused journaled events does not stop readers (admins read the
// trail when it fails): only ctx's error is returned.
func (l *Log) settle(ctx context.Context) error {
	if l.j == nil {
		return nil
	}
	if err := l.Flush(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// markKey is the key of this log's journal applied mark.
func (l *Log) markKey() []byte {
	if l.mark != nil {
		return l.mark
	}
	return appliedKey
}
