package auditlog

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/agentid/agentid/audit"
)

func TestExportVerifyLinesRoundTrip(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l, 10)
	var buf bytes.Buffer
	if err := l.Export(t.Context(), audit.Filter{}, &buf); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 10 {
		t.Fatalf("%d lines, want 10", n)
	}
	rep, err := audit.VerifyLines(&buf)
	if err != nil {
		t.Fatal(err)
	}
	seq, hash, _ := l.Head(t.Context())
	if rep.Events != 10 || rep.FirstSeq != 1 || rep.LastSeq != seq || rep.Head != hash {
		t.Fatalf("report %+v does not match head %d %s", rep, seq, hash)
	}

	// An export resuming after a seq verifies, anchored on its first event.
	buf.Reset()
	if err := l.Export(t.Context(), audit.Filter{AfterSeq: 6}, &buf); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.VerifyLines(&buf)
	if err != nil || rep.FirstSeq != 7 || rep.LastSeq != 10 || rep.Head != hash {
		t.Fatalf("partial export: %+v, %v", rep, err)
	}
}

func TestExportWriteError(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l, 3)
	err := l.Export(t.Context(), audit.Filter{}, failWriter{})
	if err == nil || !strings.HasPrefix(err.Error(), "audit: export") {
		t.Fatalf("Export to a failing writer: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestVerifyLinesFilteredExportHasGaps(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l, 6)
	var buf bytes.Buffer
	if err := l.Export(t.Context(), audit.Filter{Agent: "did:key:agent0"}, &buf); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyLines(&buf)
	mustBeCorrupt(t, err)
	if got := chainErrors(rep); !slices.Equal(got, []string{"2:removed", "4:removed"}) {
		t.Fatalf("errors %v", got)
	}
}

func TestSinks(t *testing.T) {
	l, _ := newLog(t)
	for name, s := range map[string]audit.Sink{"log": l, "jsonlines": audit.JSONLines(io.Discard), "discard": audit.Discard} {
		t.Run(name, func(t *testing.T) {
			if err := s.Record(t.Context(), &audit.Event{Action: audit.ActionVerify, Decision: audit.DecisionAllow}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if seq, _, _ := l.Head(t.Context()); seq != 1 {
		t.Fatalf("log sink head %d", seq)
	}
}
