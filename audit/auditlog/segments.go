package auditlog

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// Retention: the log in the store is the open segment. Roll seals it when
// it is big or old enough: its events go to a segment file in the archive
// directory (JSON lines, exactly as Export writes them), the issuer signs
// the head of the segment (its last event's seq and hash), and the events
// leave the store, which keeps that signed head as the log's base. Prune
// deletes the oldest segment files by policy and keeps the signed head of
// the last one it deleted (pruned.jws), from which the chain still
// verifies. VerifyArchive checks the archive and the open segment as one
// chain.

// Archive file names.
const (
	segmentPrefix = "segment-"
	segmentExt    = ".jsonl"
	headExt       = ".jws"
	// PrunedHead is the signed head of the last event pruned from the
	// archive: the chain resumes after it.
	PrunedHead = "pruned.jws"
)

var baseKey = []byte("base")

// Retention defaults.
const (
	DefaultSegmentBytes = 256 << 20
	DefaultSegmentAge   = 24 * time.Hour
)

// ErrArchive reports an archive that does not hold together: a segment
// without its signed head, a gap between segments, a signed head that
// does not verify.
var ErrArchive = errors.New("audit: archive incomplete")

// RetentionOptions configure Roll and Prune.
type RetentionOptions struct {
	// Dir is the archive directory (created 0700).
	Dir string
	// SegmentBytes seals the open segment once its records take this
	// many bytes (DefaultSegmentBytes when 0).
	SegmentBytes int64
	// SegmentAge seals the open segment once its first event is this old
	// (DefaultSegmentAge when 0).
	SegmentAge time.Duration
	// KeepSegments, when positive, keeps at most this many sealed
	// segment files; Prune deletes the oldest.
	KeepSegments int
	// KeepFor, when positive, deletes segment files sealed longer ago.
	KeepFor time.Duration
	// Sign signs a segment's head with the issuer key (a compact JWS
	// that VerifyArchive's checkHead accepts). Required.
	Sign func(ctx context.Context, h audit.Head) (string, error)
}

// Segment describes a sealed segment.
type Segment struct {
	First, Last uint64
	Hash        string // hash of the last event
	File        string // path of the segment file
}

func segmentBase(first, last uint64) string {
	return fmt.Sprintf("%s%020d-%020d", segmentPrefix, first, last)
}

// base reads the store's base: the signed head of the last event moved to
// the archive, or nil.
func readBase(tx store.Tx) (*signedHead, error) {
	v := tx.Bucket(headsBucket).Get(baseKey)
	if v == nil {
		return nil, nil
	}
	var sh signedHead
	if err := json.Unmarshal(v, &sh); err != nil {
		return nil, &audit.ChainError{Kind: audit.KindCorrupt, Detail: "log base: " + err.Error()}
	}
	return &sh, nil
}

// Base returns the signed head of the last event sealed out of the store
// (its token and head), or "" and nil when nothing was. The caller checks
// the token before trusting it, as for LatestSignedHead.
func (l *Log) Base(ctx context.Context) (string, *audit.Head, error) {
	var sh *signedHead
	err := l.db.View(ctx, func(tx store.Tx) error {
		var err error
		sh, err = readBase(tx)
		return err
	})
	if err != nil || sh == nil {
		return "", nil, err
	}
	return sh.Token, &sh.Head, nil
}

// Roll seals the open segment when it is due under opts (always, when
// force is set and it holds events), and returns it; nil when nothing was
// due.
func (l *Log) Roll(ctx context.Context, opts RetentionOptions, force bool) (*Segment, error) {
	if opts.Sign == nil || opts.Dir == "" {
		return nil, errorf("roll: Dir and Sign are required")
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.SegmentAge <= 0 {
		opts.SegmentAge = DefaultSegmentAge
	}
	if err := l.settle(ctx); err != nil {
		return nil, errorf("roll: %w", err)
	}
	var from uint64 // base seq
	var up head
	var size int64
	var first time.Time
	err := l.db.View(ctx, func(tx store.Tx) error {
		sh, err := readBase(tx)
		if err != nil {
			return err
		}
		if sh != nil {
			from = sh.Head.Seq
		}
		b := tx.Bucket(bucketName)
		if up, err = readHead(b); err != nil {
			return err
		}
		return b.Range(seqKey(from+1), func(k, v []byte) error {
			if len(k) != 8 || binary.BigEndian.Uint64(k) > up.seq {
				return store.Stop
			}
			if first.IsZero() {
				ev, err := audit.ParseRecord(binary.BigEndian.Uint64(k), v)
				if err != nil {
					return err
				}
				first = ev.Time
			}
			size += int64(len(v)) + 1
			return nil
		})
	})
	if err != nil {
		return nil, errorf("roll: %w", err)
	}
	if up.seq <= from {
		return nil, nil
	}
	if !force && size < opts.SegmentBytes && l.now().Sub(first) < opts.SegmentAge {
		return nil, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, errorf("roll: %w", err)
	}
	seg := &Segment{First: from + 1, Last: up.seq, Hash: up.hash}
	name := filepath.Join(opts.Dir, segmentBase(seg.First, seg.Last))
	seg.File = name + segmentExt
	err = writeAtomic(seg.File, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 256<<10)
		err := l.scan(ctx, from, func(ev *audit.Event) bool { return ev.Seq <= up.seq }, func(it item) error {
			if it.ev.Seq > up.seq {
				return errStop
			}
			bw.Write(it.raw)
			return bw.WriteByte('\n')
		})
		if err != nil && err != errStop {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return nil, errorf("roll: %w", err)
	}
	h := audit.Head{Seq: up.seq, Hash: up.hash, Time: l.now().UTC().Truncate(time.Second)}
	tok, err := opts.Sign(ctx, h)
	if err != nil {
		return nil, errorf("roll: sign: %w", err)
	}
	if err := writeAtomic(name+headExt, func(w io.Writer) error { _, err := io.WriteString(w, tok+"\n"); return err }); err != nil {
		return nil, errorf("roll: %w", err)
	}
	// The segment is on disk with its signed head: its events leave the
	// store, a chunk a transaction, the base moving with each chunk so
	// that the store's chain always starts right after it.
	for next := from + 1; next <= up.seq; {
		end := min(next+scanChunk*8-1, up.seq)
		err := l.db.Update(ctx, func(tx store.Tx) error {
			b := tx.Bucket(bucketName)
			last := b.Get(seqKey(end))
			if last == nil {
				return &audit.ChainError{Seq: end, Kind: audit.KindRemoved, Detail: "event vanished while sealing"}
			}
			ev, err := audit.ParseRecord(end, last)
			if err != nil {
				return err
			}
			for s := next; s <= end; s++ {
				if err := b.Delete(seqKey(s)); err != nil {
					return err
				}
			}
			v, err := json.Marshal(signedHead{Head: audit.Head{Seq: end, Hash: ev.Hash, Time: h.Time}, Token: tok})
			if err != nil {
				return err
			}
			return tx.Bucket(headsBucket).Put(baseKey, v)
		})
		if err != nil {
			return nil, errorf("roll: %w", err)
		}
		next = end + 1
	}
	return seg, nil
}

// writeAtomic writes a file through a temporary one, fsynced and renamed
// into place, and fsyncs the directory.
func writeAtomic(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// segments lists the archive's segment files, oldest first.
func segments(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, segmentPrefix+"*"+segmentExt))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// Prune deletes the oldest segment files beyond opts.KeepSegments or
// sealed more than opts.KeepFor ago, oldest first, and keeps the signed
// head of the last one deleted as PrunedHead. It returns how many it
// deleted.
func (l *Log) Prune(ctx context.Context, opts RetentionOptions) (int, error) {
	names, err := segments(opts.Dir)
	if err != nil {
		return 0, errorf("prune: %w", err)
	}
	n := 0
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return n, errorf("prune: %w", err)
		}
		st, err := os.Stat(name)
		if err != nil {
			return n, errorf("prune: %w", err)
		}
		old := opts.KeepFor > 0 && l.now().Sub(st.ModTime()) > opts.KeepFor
		many := opts.KeepSegments > 0 && len(names)-i > opts.KeepSegments
		if !old && !many {
			break
		}
		head := strings.TrimSuffix(name, segmentExt) + headExt
		// The head first: a crash between the two leaves a segment whose
		// head is already the pruned one, which verifies.
		if err := os.Rename(head, filepath.Join(opts.Dir, PrunedHead)); err != nil {
			return n, errorf("prune: %w", err)
		}
		if err := os.Remove(name); err != nil {
			return n, errorf("prune: %w", err)
		}
		if err := syncDir(opts.Dir); err != nil {
			return n, errorf("prune: %w", err)
		}
		n++
	}
	return n, nil
}

// VerifyArchive checks an archive directory and, when tail is not nil,
// the open segment after it (an export of the store's log) as one chain:
// every segment file has a signed head, which checkHead authenticates and
// the segment's last event must match; segments follow each other without
// gap; the first remaining event links to PrunedHead when segments were
// pruned, else the chain starts at seq 1. Keyed events' MACs are checked
// under key when it is given, otherwise counted as unchecked.
//
// It returns the report of the whole walk, and an error wrapping
// audit.ErrCorrupt (a broken chain) or ErrArchive (a segment without its
// head, a head that does not verify).
func VerifyArchive(ctx context.Context, dir string, tail io.Reader, key []byte, checkHead func(ctx context.Context, token string) (*audit.Head, error)) (*audit.VerifyReport, error) {
	names, err := segments(dir)
	if err != nil {
		return nil, errorf("verify archive: %w", err)
	}
	opts := audit.ChainOptions{Key: key, RequireKeyed: key != nil}
	readHeadFile := func(path string) (*audit.Head, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrArchive, err)
		}
		h, err := checkHead(ctx, strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrArchive, filepath.Base(path), err)
		}
		return h, nil
	}
	// Without a pruned head the chain must start at its first event:
	// an archive whose oldest segments and pruned head were deleted does
	// not pass for a complete one.
	opts.Anchor = &audit.Head{Seq: 0, Hash: audit.GenesisPrev}
	if _, err := os.Stat(filepath.Join(dir, PrunedHead)); err == nil {
		if opts.Anchor, err = readHeadFile(filepath.Join(dir, PrunedHead)); err != nil {
			return nil, err
		}
	}
	var readers []io.Reader
	for _, name := range names {
		h, err := readHeadFile(strings.TrimSuffix(name, segmentExt) + headExt)
		if err != nil {
			return nil, err
		}
		opts.Heads = append(opts.Heads, *h)
		f, err := os.Open(name)
		if err != nil {
			return nil, errorf("verify archive: %w", err)
		}
		defer f.Close()
		readers = append(readers, f)
	}
	if tail != nil {
		readers = append(readers, tail)
	}
	return audit.VerifyLinesWith(io.MultiReader(readers...), opts)
}
