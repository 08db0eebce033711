package auditlog

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// testSigner signs heads with an HMAC, standing in for the issuer key.
var signKey = []byte("test head signing key")

func testSign(_ context.Context, h audit.Head) (string, error) {
	b, _ := json.Marshal(h)
	m := hmac.New(sha256.New, signKey)
	m.Write(b)
	return hex.EncodeToString(b) + "." + hex.EncodeToString(m.Sum(nil)), nil
}

func testCheckHead(_ context.Context, tok string) (*audit.Head, error) {
	p, sig, ok := strings.Cut(tok, ".")
	b, err := hex.DecodeString(p)
	if !ok || err != nil {
		return nil, errors.New("malformed head")
	}
	m := hmac.New(sha256.New, signKey)
	m.Write(b)
	if hex.EncodeToString(m.Sum(nil)) != sig {
		return nil, errors.New("bad signature")
	}
	var h audit.Head
	return &h, json.Unmarshal(b, &h)
}

func keyedLog(t *testing.T) (*Log, store.Store) {
	t.Helper()
	db := openDB(t, true)
	l, err := Open(db, &Options{Now: newClock(t0).Now, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return l, db
}

func appendTx(t *testing.T, l *Log, db store.Store, n int) {
	t.Helper()
	for i := range n {
		if err := db.Update(context.Background(), func(tx store.Tx) error {
			return l.AppendTx(tx, &audit.Event{Action: audit.ActionAgentIssue, Decision: audit.DecisionAllow, Detail: fmt.Sprintf("event %d", i)})
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyAll checks the archive and the store's open segment as one chain.
func verifyAll(t *testing.T, l *Log, dir string) (*audit.VerifyReport, error) {
	t.Helper()
	var tail bytes.Buffer
	if err := l.Export(context.Background(), audit.Filter{}, &tail); err != nil {
		t.Fatal(err)
	}
	return VerifyArchive(context.Background(), dir, &tail, testKey, testCheckHead)
}

func storedSeqs(t *testing.T, l *Log) []uint64 { return collect(t, l, audit.Filter{}) }

// TestRollSealsAtSizeLimit: below the size limit nothing is sealed; past
// it the open segment goes to a file with its signed head, leaves the
// store, and the archive plus the store verify as one chain.
func TestRollSealsAtSizeLimit(t *testing.T) {
	ctx := context.Background()
	l, db := keyedLog(t)
	dir := t.TempDir()
	opts := RetentionOptions{Dir: dir, SegmentBytes: 20 << 10, Sign: testSign}
	appendTx(t, l, db, 10)
	if seg, err := l.Roll(ctx, opts, false); err != nil || seg != nil {
		t.Fatalf("Roll below the limit: %+v, %v; want nothing sealed", seg, err)
	}
	appendTx(t, l, db, 90) // well past 20 KiB
	seg, err := l.Roll(ctx, opts, false)
	if err != nil || seg == nil {
		t.Fatalf("Roll past the limit: %+v, %v", seg, err)
	}
	if seg.First != 1 || seg.Last != 100 {
		t.Fatalf("sealed %d..%d, want 1..100", seg.First, seg.Last)
	}
	b, err := os.ReadFile(filepath.Join(dir, "segment-00000000000000000001-00000000000000000100.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 100 {
		t.Fatalf("segment file has %d lines, want 100", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "segment-00000000000000000001-00000000000000000100.jws")); err != nil {
		t.Fatal(err)
	}
	if got := storedSeqs(t, l); len(got) != 0 {
		t.Fatalf("store still holds %v after sealing", got)
	}
	appendTx(t, l, db, 5)
	if got := storedSeqs(t, l); len(got) != 5 || got[0] != 101 {
		t.Fatalf("store holds %v, want 101..105", got)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatalf("store chain after sealing: %v", err)
	}
	rep, err := verifyAll(t, l, dir)
	if err != nil || rep.Events != 105 || rep.FirstSeq != 1 || rep.LastSeq != 105 {
		t.Fatalf("archive + store: %+v, %v", rep, err)
	}
}

// TestPruneKeepsSignedHead: pruning removes the oldest segments and keeps
// the signed head of the last one removed; the chain verifies from it,
// and not without it.
func TestPruneKeepsSignedHead(t *testing.T) {
	ctx := context.Background()
	l, db := keyedLog(t)
	dir := t.TempDir()
	opts := RetentionOptions{Dir: dir, Sign: testSign, KeepSegments: 1}
	for range 3 {
		appendTx(t, l, db, 10)
		if _, err := l.Roll(ctx, opts, true); err != nil {
			t.Fatal(err)
		}
	}
	appendTx(t, l, db, 2)
	n, err := l.Prune(ctx, opts)
	if err != nil || n != 2 {
		t.Fatalf("Prune: %d, %v; want 2 segments removed", n, err)
	}
	names, _ := segments(dir)
	if len(names) != 1 || !strings.Contains(names[0], "segment-00000000000000000021-00000000000000000030") {
		t.Fatalf("segments left: %q", names)
	}
	tok, err := os.ReadFile(filepath.Join(dir, PrunedHead))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := testCheckHead(ctx, strings.TrimSpace(string(tok))); err != nil || h.Seq != 20 {
		t.Fatalf("pruned head: %+v, %v; want seq 20", h, err)
	}
	rep, err := verifyAll(t, l, dir)
	if err != nil || rep.FirstSeq != 21 || rep.LastSeq != 32 {
		t.Fatalf("after pruning: %+v, %v", rep, err)
	}
	// Without the pruned head the archive no longer passes for whole.
	os.Remove(filepath.Join(dir, PrunedHead))
	if _, err := verifyAll(t, l, dir); !errors.Is(err, audit.ErrCorrupt) {
		t.Fatalf("archive without its pruned head: %v, want ErrCorrupt", err)
	}
}

// TestArchiveTampered: an edited sealed segment, and a segment removed
// from the middle, are detected.
func TestArchiveTampered(t *testing.T) {
	ctx := context.Background()
	l, db := keyedLog(t)
	dir := t.TempDir()
	opts := RetentionOptions{Dir: dir, Sign: testSign}
	for range 3 {
		appendTx(t, l, db, 10)
		if _, err := l.Roll(ctx, opts, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := verifyAll(t, l, dir); err != nil {
		t.Fatalf("untouched archive: %v", err)
	}
	mid := filepath.Join(dir, "segment-00000000000000000011-00000000000000000020.jsonl")
	b, _ := os.ReadFile(mid)
	edited := bytes.Replace(b, []byte(`"event 3"`), []byte(`"event X"`), 1)
	if bytes.Equal(b, edited) {
		t.Fatal("nothing to edit")
	}
	os.WriteFile(mid, edited, 0o600)
	rep, err := verifyAll(t, l, dir)
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Kind != audit.KindEdited || ce.Seq != 14 {
		t.Fatalf("edited segment: %v (%+v), want event 14 edited", err, rep)
	}
	os.Remove(mid)
	os.Remove(strings.TrimSuffix(mid, ".jsonl") + ".jws")
	if _, err := verifyAll(t, l, dir); !errors.As(err, &ce) || ce.Kind != audit.KindRemoved || ce.Seq != 11 {
		t.Fatalf("removed segment: %v, want events from 11 removed", err)
	}
}
