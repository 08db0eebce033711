package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzVerifyLines feeds arbitrary files to VerifyLines: it must never
// panic, and its report and error must agree.
func FuzzVerifyLines(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(""))
	f.Add([]byte("\n\n"))
	f.Add([]byte(`{"seq":18446744073709551615,"time":"2026-01-01T00:00:00Z","action":"verify","decision":"allow","prev":"","hash":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyLines(bytes.NewReader(data))
		if rep == nil {
			t.Fatalf("nil report (err %v) for in-memory input", err)
		}
		if (err == nil) != rep.OK() {
			t.Fatalf("err %v but report OK=%v", err, rep.OK())
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if len(rep.Errors) > MaxChainErrors {
			t.Fatalf("%d errors, over the bound", len(rep.Errors))
		}
		if rep.OK() && rep.Events > 0 {
			// An intact file is a canonical chain: appending a
			// correctly sealed successor keeps it intact.
			next := Event{Seq: rep.LastSeq + 1, Time: t0, Action: ActionVerify, Decision: DecisionAllow, Prev: rep.Head}
			if next.Seq == 0 {
				return
			}
			rec, err := Seal(&next)
			if err != nil {
				t.Fatal(err)
			}
			more := append(bytes.Clone(data), '\n')
			more = append(append(more, rec...), '\n')
			if rep2, err := VerifyLines(bytes.NewReader(more)); err != nil {
				t.Fatalf("extended chain fails: %v %+v", err, rep2.Errors)
			}
		}
	})
}

// FuzzSeal checks that whatever strings an event carries, the record that
// Append stores verifies: the canonical encoding round-trips.
func FuzzSeal(f *testing.F) {
	f.Add("did:key:z6Mk", "verify", "https://calendar.example.com", "calendar:read", "detail", int64(0))
	f.Add("\xff\xfe", "a\u2028b", "<&>", "\x00", "\ufffd\xed\xa0\x80", int64(-62135596800))
	f.Fuzz(func(t *testing.T, actor, action, resource, scope, detail string, unix int64) {
		ev := &Event{Actor: actor, Action: action, Resource: resource, Scopes: []string{scope},
			Detail: detail, Decision: DecisionDeny, Time: time.Unix(unix, 0), Seq: 1, Prev: GenesisPrev}
		if err := Prepare(ev, time.Now); err != nil {
			return
		}
		rec, err := Seal(ev)
		if err != nil {
			return // unencodable time, too large
		}
		if _, kind, detail, _ := check(rec, nil); kind != "" {
			t.Fatalf("sealed record fails its own check: %s: %s\n%s", kind, detail, rec)
		}
	})
}
