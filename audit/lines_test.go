package audit

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.jsonl")

func TestVerifyLinesDetectsTampering(t *testing.T) {
	edit := func(i int, f func([]byte) []byte) func([][]byte) [][]byte {
		return func(ls [][]byte) [][]byte { ls[i] = f(ls[i]); return ls }
	}
	tests := []struct {
		name   string
		tamper func([][]byte) [][]byte
		want   []string
	}{
		{"intact", func(ls [][]byte) [][]byte { return ls }, nil},
		{"blank lines and CRLF are tolerated", func(ls [][]byte) [][]byte {
			ls[0] = bytes.Replace(ls[0], []byte("\n"), []byte("\r\n\n"), 1)
			return ls
		}, nil},
		{"edit a byte", edit(2, func(v []byte) []byte {
			return bytes.Replace(v, []byte("agent0"), []byte("agent7"), 1)
		}), []string{"3:edited"}},
		{"drop a line", func(ls [][]byte) [][]byte { return slices.Delete(ls, 3, 4) }, []string{"4:removed"}},
		{"drop two lines", func(ls [][]byte) [][]byte { return slices.Delete(ls, 3, 5) }, []string{"4:removed"}},
		{"swap adjacent lines", func(ls [][]byte) [][]byte { ls[2], ls[3] = ls[3], ls[2]; return ls }, []string{"3:reordered"}},
		{"move a line far", func(ls [][]byte) [][]byte {
			l := ls[1]
			ls = slices.Delete(ls, 1, 2)
			return slices.Insert(ls, 5, l)
		}, []string{"2:reordered"}},
		{"duplicate a line", func(ls [][]byte) [][]byte { return slices.Insert(ls, 4, ls[2]) }, []string{"3:reordered"}},
		{"garbage line", edit(4, func([]byte) []byte { return []byte("}{\n") }), []string{"5:corrupt"}},
		{"truncated last line", edit(7, func(v []byte) []byte { return v[:len(v)/3] }), []string{"8:corrupt"}},
		{"overlong line", edit(1, func([]byte) []byte { return append(bytes.Repeat([]byte("x"), MaxLineSize+1), '\n') }), []string{"2:corrupt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.tamper(seedLines(t, 8))
			rep, err := VerifyLines(bytes.NewReader(bytes.Join(lines, nil)))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyLines: %v", err)
				}
				return
			}
			mustBeCorrupt(t, err)
			if got := chainErrors(rep); !slices.Equal(got, tt.want) {
				t.Fatalf("errors %v, want %v\n%+v", got, tt.want, rep.Errors)
			}
		})
	}
}

func TestVerifyLinesReadError(t *testing.T) {
	rep, err := VerifyLines(io.MultiReader(strings.NewReader("{"), iotestErrReader{}))
	if rep != nil || err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("read error: %+v, %v", rep, err)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("i/o error") }

// golden builds the deterministic chain the testdata files derive from: the
// lines an export of the durable log holding these events has too.
func golden(t *testing.T) [][]byte {
	return chainLines(t,
		&Event{Action: ActionPrincipalAdd, Actor: "did:web:issuer.example.com", Subject: "", Decision: DecisionAllow, Detail: "orchestrator"},
		&Event{Action: ActionAgentIssue, Actor: "did:key:z6MkOrch", Subject: "did:key:z6MkAgent", Credential: "urn:uuid:1", Scopes: []string{"calendar:read"}, Decision: DecisionAllow},
		&Event{Action: ActionVerify, Subject: "did:key:z6MkAgent", Credential: "urn:uuid:1", Resource: "https://calendar.example.com", Scopes: []string{"calendar:read"}, Decision: DecisionAllow, SourceIP: "10.0.0.7", RequestID: "r-1"},
		&Event{Action: ActionCredentialRevoke, Actor: "did:web:issuer.example.com", Subject: "did:key:z6MkAgent", Credential: "urn:uuid:1", Decision: DecisionAllow},
		&Event{Action: ActionVerify, Subject: "did:key:z6MkAgent", Credential: "urn:uuid:1", Resource: "https://calendar.example.com", Scopes: []string{"calendar:write"}, Decision: DecisionDeny, Reason: "revoked", Detail: "<script>&\u2028"},
	)
}

// TestVerifyLinesGolden checks the files in testdata, named by outcome
// (valid.jsonl, edited_3.jsonl, ...). Run with -update to rewrite them.
func TestVerifyLinesGolden(t *testing.T) {
	files := map[string]func([][]byte) [][]byte{
		"valid.jsonl": func(ls [][]byte) [][]byte { return ls },
		"edited_3.jsonl": func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte("10.0.0.7"), []byte("10.0.0.8"), 1)
			return ls
		},
		"removed_4.jsonl":   func(ls [][]byte) [][]byte { return slices.Delete(ls, 3, 4) },
		"reordered_2.jsonl": func(ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls },
		"corrupt_5.jsonl":   func(ls [][]byte) [][]byte { ls[4] = ls[4][:40]; return ls },
	}
	want := map[string][]string{
		"valid.jsonl":       nil,
		"edited_3.jsonl":    {"3:edited"},
		"removed_4.jsonl":   {"4:removed"},
		"reordered_2.jsonl": {"2:reordered"},
		"corrupt_5.jsonl":   {"5:corrupt"},
	}
	if *update {
		for name, f := range files {
			data := bytes.Join(f(golden(t)), nil)
			if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The generator must still produce valid.jsonl byte for byte: the
	// canonical encoding has not changed.
	valid, err := os.ReadFile(filepath.Join("testdata", "valid.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Join(golden(t), nil); !bytes.Equal(got, valid) {
		t.Fatalf("canonical encoding changed:\n%s\nwant\n%s", got, valid)
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := VerifyLines(f)
			if w == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			mustBeCorrupt(t, err)
			if got := chainErrors(rep); !slices.Equal(got, w) {
				t.Fatalf("errors %v, want %v", got, w)
			}
		})
	}
}

func TestJSONLinesSink(t *testing.T) {
	var buf bytes.Buffer
	sink := JSONLines(&buf)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 25 {
				ev := &Event{Action: ActionVerify, Decision: DecisionAllow, Subject: "did:key:" + string(rune('a'+g))}
				if err := sink.Record(t.Context(), ev); err != nil {
					t.Error(err)
				}
				if ev.Seq == 0 || ev.Hash == "" || ev.Time.IsZero() {
					t.Errorf("event not sealed: %+v", ev)
				}
			}
		})
	}
	wg.Wait()
	rep, err := VerifyLines(&buf)
	if err != nil || rep.Events != 200 || rep.LastSeq != 200 {
		t.Fatalf("JSONLines output: %+v, %v", rep, err)
	}
	if err := sink.Record(t.Context(), &Event{Action: ActionVerify}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("invalid event: %v", err)
	}
	// A failed write does not advance the chain.
	fs := JSONLines(failWriter{})
	if err := fs.Record(t.Context(), &Event{Action: ActionVerify, Decision: DecisionAllow}); err == nil {
		t.Error("write error not returned")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
