package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/agentid/agentid/store"

	"github.com/agentid/agentid/audit"
)

// rehash rewrites the record under seq with edit applied and a recomputed
// hash: a tamperer who knows the format.
func rehash(seq uint64, edit func(*audit.Event)) func(b store.Bucket) error {
	return func(b store.Bucket) error {
		var ev audit.Event
		if err := json.Unmarshal(b.Get(seqKey(seq)), &ev); err != nil {
			return err
		}
		edit(&ev)
		rec, err := audit.Seal(&ev)
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), rec)
	}
}

func editValue(seq uint64, edit func([]byte) []byte) func(b store.Bucket) error {
	return func(b store.Bucket) error {
		return b.Put(seqKey(seq), edit(append([]byte(nil), b.Get(seqKey(seq))...)))
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(b store.Bucket) error
		want   []string // "seq:kind"
	}{
		{"edit one byte of a value", editValue(3, func(v []byte) []byte {
			i := bytes.Index(v, []byte("actor0"))
			v[i+5] = '9' // actor0 -> actor9
			return v
		}), []string{"3:edited"}},
		{"flip decision", editValue(2, func(v []byte) []byte {
			return bytes.Replace(v, []byte(`"allow"`), []byte(`"deny"`), 1)
		}), []string{"2:edited"}},
		{"add whitespace", editValue(4, func(v []byte) []byte {
			return append([]byte(" "), v...)
		}), []string{"4:edited"}},
		{"add a member", editValue(4, func(v []byte) []byte {
			return append([]byte(`{"note":"x",`), v[1:]...)
		}), []string{"4:edited"}},
		{"rewrite and rehash", rehash(3, func(ev *audit.Event) { ev.Decision = audit.DecisionAllow }), []string{"4:removed"}},
		{"rewrite and rehash the last", rehash(6, func(ev *audit.Event) { ev.Reason = "" }), []string{"6:edited"}},
		{"delete a middle event", func(b store.Bucket) error { return b.Delete(seqKey(3)) }, []string{"3:removed"}},
		{"delete two events", func(b store.Bucket) error {
			b.Delete(seqKey(3))
			return b.Delete(seqKey(4))
		}, []string{"3:removed"}},
		{"delete the first event", func(b store.Bucket) error { return b.Delete(seqKey(1)) }, []string{"1:removed"}},
		{"delete the last event", func(b store.Bucket) error { return b.Delete(seqKey(6)) }, []string{"6:removed"}},
		{"swap two values", func(b store.Bucket) error {
			v2 := append([]byte(nil), b.Get(seqKey(2))...)
			v4 := append([]byte(nil), b.Get(seqKey(4))...)
			b.Put(seqKey(2), v4)
			return b.Put(seqKey(4), v2)
		}, []string{"2:reordered", "4:reordered"}},
		{"move an event to a new key", func(b store.Bucket) error {
			v := append([]byte(nil), b.Get(seqKey(3))...)
			b.Delete(seqKey(3))
			return b.Put(seqKey(7), v)
		}, []string{"3:removed", "7:reordered", "7:corrupt"}},
		{"unparseable value", editValue(5, func([]byte) []byte { return []byte("\x00\x01garbage") }), []string{"5:corrupt"}},
		{"truncated value", editValue(5, func(v []byte) []byte { return v[:len(v)/2] }), []string{"5:corrupt"}},
		{"null value", editValue(5, func([]byte) []byte { return []byte("null") }), []string{"5:corrupt"}},
		{"empty value", editValue(5, func([]byte) []byte { return []byte{} }), []string{"5:corrupt"}},
		{"wrong types", editValue(5, func([]byte) []byte { return []byte(`{"seq":"five","time":12}`) }), []string{"5:corrupt"}},
		{"head deleted", func(b store.Bucket) error { return b.Delete(headKey) }, []string{"0:corrupt"}},
		{"head garbled", func(b store.Bucket) error { return b.Put(headKey, []byte("short")) }, []string{"0:corrupt"}},
		{"stray key", func(b store.Bucket) error { return b.Put([]byte("stray"), []byte("x")) }, []string{"0:corrupt"}},
		{"key zero", func(b store.Bucket) error { return b.Put(seqKey(0), []byte("{}")) }, []string{"0:corrupt"}},
		{"forged event beyond the head", func(b store.Bucket) error {
			var last audit.Event
			json.Unmarshal(b.Get(seqKey(6)), &last)
			ev := audit.Event{Seq: 7, Time: last.Time, Action: audit.ActionVerify, Decision: audit.DecisionAllow, Prev: last.Hash}
			rec, _ := audit.Seal(&ev)
			return b.Put(seqKey(7), rec)
		}, []string{"7:corrupt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, db := newLog(t)
			seed(t, l, 6)
			if _, err := l.Verify(t.Context()); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			bucketDo(t, db, tt.tamper)
			rep, err := l.Verify(t.Context())
			mustBeCorrupt(t, err)
			if rep == nil {
				t.Fatal("nil report")
			}
			if got := chainErrors(rep); !slices.Equal(got, tt.want) {
				t.Fatalf("errors %v, want %v\n%+v", got, tt.want, rep.Errors)
			}
			var ce *audit.ChainError
			errors.As(err, &ce)
			if ce.Seq != rep.Errors[0].Seq || ce.Kind != rep.Errors[0].Kind {
				t.Errorf("returned error %v is not the first break %+v", err, rep.Errors[0])
			}
		})
	}
}

func TestVerifyEmptyAndIntact(t *testing.T) {
	l, _ := newLog(t)
	rep, err := l.Verify(t.Context())
	if err != nil || !rep.OK() || rep.Events != 0 {
		t.Fatalf("empty log: %+v, %v", rep, err)
	}
	seed(t, l, 3)
	rep, err = l.Verify(t.Context())
	if err != nil || !rep.OK() || rep.Events != 3 || rep.FirstSeq != 1 || rep.LastSeq != 3 {
		t.Fatalf("intact log: %+v, %v", rep, err)
	}
	if _, hash, _ := l.Head(t.Context()); rep.Head != hash {
		t.Errorf("report head %s, log head %s", rep.Head, hash)
	}
}

// TestVerifyRandomDamage changes random bytes of stored records: Verify
// must report every change and never panic.
func TestVerifyRandomDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		l, db := newLog(t)
		seed(t, l, 4)
		seq := uint64(rng.IntN(4) + 1)
		changed := false
		bucketDo(t, db, editValue(seq, func(v []byte) []byte {
			for range rng.IntN(3) + 1 {
				j := rng.IntN(len(v))
				b := byte(rng.IntN(256))
				changed = changed || v[j] != b
				v[j] = b
			}
			return v
		}))
		rep, err := l.Verify(t.Context())
		if !changed {
			continue
		}
		if err == nil || rep == nil || rep.OK() {
			t.Fatalf("round %d: damage to event %d not detected", i, seq)
		}
		mustBeCorrupt(t, err)
	}
}

func TestVerifyManyErrorsBounded(t *testing.T) {
	l, db := newLog(t)
	seed(t, l, audit.MaxChainErrors+50)
	bucketDo(t, db, func(b store.Bucket) error {
		for s := uint64(1); s <= audit.MaxChainErrors+50; s++ {
			if err := b.Put(seqKey(s), []byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	rep, err := l.Verify(t.Context())
	mustBeCorrupt(t, err)
	if len(rep.Errors) != audit.MaxChainErrors || !rep.Truncated {
		t.Fatalf("%d errors, truncated %v", len(rep.Errors), rep.Truncated)
	}
	if !strings.Contains(err.Error(), "more") {
		t.Errorf("error %q does not say there are more", err)
	}
}
