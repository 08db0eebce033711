package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

var testChainKey = bytes.Repeat([]byte{7}, 32)

// rechain drops events 4..6 and re-chains the rest with plain SHA-256, the
// way the finding did it: the attacker can write the database but has no
// chain key. keepAlg keeps a "mac" field (forged: the SHA-256 hash in its
// place); otherwise the events are downgraded to unkeyed ones.
func rechain(tb testing.TB, db store.Store, n uint64, keepAlg bool) {
	tb.Helper()
	err := db.Update(context.Background(), func(tx store.Tx) error {
		b := tx.Bucket(bucketName)
		var evs []audit.Event
		for s := uint64(1); s <= n; s++ {
			var ev audit.Event
			if err := json.Unmarshal(b.Get(seqKey(s)), &ev); err != nil {
				return err
			}
			if err := b.Delete(seqKey(s)); err != nil {
				return err
			}
			if s < 4 || s > 6 {
				evs = append(evs, ev)
			}
		}
		prev := audit.GenesisPrev
		for i := range evs {
			ev := &evs[i]
			ev.Seq, ev.Prev = uint64(i+1), prev
			keyed := ev.MAC != ""
			rec, err := audit.Seal(ev) // unkeyed: SHA-256
			if err != nil {
				return err
			}
			if keepAlg && keyed {
				rec = append(rec[:len(rec)-1], []byte(`,"mac":"`+ev.Hash+`"}`)...)
			}
			if err := b.Put(seqKey(ev.Seq), rec); err != nil {
				return err
			}
			prev = ev.Hash
		}
		return writeHead(b, uint64(len(evs)), prev)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func appendN(tb testing.TB, l *Log, n int) {
	tb.Helper()
	for i := range n {
		if err := l.Append(context.Background(), &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow, Detail: fmt.Sprint(i)}); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestVerifyRechainedLog is the finding: three events dropped and the rest
// re-chained with SHA-256. An unkeyed log (key nil, the behaviour before
// keyed chains) cannot tell; a keyed one reports it.
func TestVerifyRechainedLog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key      []byte
		keepAlg  bool
		wantKind string // "" means the rewrite goes unnoticed
		wantSeq  uint64
	}{
		{"unkeyed log: undetectable without a key", nil, false, "", 0},
		{"keyed log, events downgraded to SHA-256", testChainKey, false, audit.KindDowngraded, 7},
		{"keyed log, forged MACs", testChainKey, true, audit.KindEdited, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, true)
			l, err := Open(db, &Options{Key: tc.key})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 10)
			if _, err := l.Verify(context.Background()); err != nil {
				t.Fatalf("intact log: %v", err)
			}
			rechain(t, db, 10, tc.keepAlg)
			rep, err := l.Verify(context.Background())
			if tc.wantKind == "" {
				if err != nil {
					t.Fatalf("unkeyed re-chained log: %v", err)
				}
				return
			}
			var ce *audit.ChainError
			if !errors.As(err, &ce) || rep == nil || rep.OK() {
				t.Fatalf("Verify = %v, want a chain error", err)
			}
			if ce.Kind != tc.wantKind || ce.Seq != tc.wantSeq {
				t.Errorf("first break = %+v, want %s at seq %d", ce, tc.wantKind, tc.wantSeq)
			}
		})
	}
}

// TestUpgradeUnkeyedLog: a log written before keyed chains (no key) still
// verifies once opened with a key, new events are keyed, and an unkeyed
// event after them is refused as a downgrade.
func TestUpgradeUnkeyedLog(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, true)
	old, _ := Open(db, nil)
	appendN(t, old, 3)
	l, err := Open(db, &Options{Key: testChainKey})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.VerifyWith(ctx, audit.ChainOptions{})
	if err != nil || rep.Keyed != 0 || rep.LastSeq != 3 {
		t.Fatalf("old log under a key: %+v, %v", rep, err)
	}
	appendN(t, l, 2)
	rep, err = l.Verify(ctx)
	if err != nil || rep.Keyed != 2 {
		t.Fatalf("mixed log: %+v, %v", rep, err)
	}
	// The old code (no key) appending after keyed events: a downgrade.
	appendN(t, old, 1)
	_, err = l.Verify(ctx)
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Kind != audit.KindDowngraded || ce.Seq != 6 {
		t.Fatalf("Verify = %v, want downgraded at 6", err)
	}
}

// TestVerifyAgainstSignedHead: a log truncated, or rewritten, before a
// head saved elsewhere is reported against that head.
func TestVerifyAgainstSignedHead(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		damage   func(tb testing.TB, db store.Store)
		wantKind string
		wantSeq  uint64
		// Offline, without the key, the first break found in the export.
		exportKind string
		exportSeq  uint64
	}{
		{"intact", func(testing.TB, store.Store) {}, "", 0, "", 0},
		{"truncated after the head", func(tb testing.TB, db store.Store) {
			_ = db.Update(ctx, func(tx store.Tx) error {
				b := tx.Bucket(bucketName)
				for s := uint64(6); s <= 8; s++ {
					_ = b.Delete(seqKey(s))
				}
				var ev audit.Event
				_ = json.Unmarshal(b.Get(seqKey(5)), &ev)
				return writeHead(b, 5, ev.Hash)
			})
		}, audit.KindTruncated, 6, audit.KindTruncated, 6},
		{"rewritten before the head", func(tb testing.TB, db store.Store) { rechain(tb, db, 8, true) }, audit.KindEdited, 1, audit.KindTruncated, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, true)
			l, _ := Open(db, &Options{Key: testChainKey})
			appendN(t, l, 8)
			seq, _, err := l.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := &audit.Head{Seq: seq - 1, Time: time.Now()}
			// The head at seq 7 (not the last event), as signed a while ago.
			_ = db.View(ctx, func(tx store.Tx) error {
				var ev audit.Event
				_ = json.Unmarshal(tx.Bucket(bucketName).Get(seqKey(7)), &ev)
				h.Hash = ev.Hash
				return nil
			})
			tc.damage(t, db)
			for _, via := range []string{"log", "export"} {
				var rep *audit.VerifyReport
				if via == "log" {
					rep, err = l.VerifyWith(ctx, audit.ChainOptions{Head: h})
				} else {
					var buf bytes.Buffer
					if err := l.Export(ctx, audit.Filter{}, &buf); err != nil {
						t.Fatal(err)
					}
					rep, err = audit.VerifyLinesWith(&buf, audit.ChainOptions{Head: h})
				}
				if tc.wantKind == "" {
					if err != nil {
						t.Fatalf("%s: %v", via, err)
					}
					continue
				}
				kind, seq := tc.wantKind, tc.wantSeq
				if via == "export" {
					kind, seq = tc.exportKind, tc.exportSeq
				}
				var ce *audit.ChainError
				if !errors.As(err, &ce) || ce.Kind != kind || ce.Seq != seq {
					t.Errorf("%s: Verify = %v (report %+v), want %s at %d", via, err, rep, kind, seq)
				}
			}
		})
	}
}
