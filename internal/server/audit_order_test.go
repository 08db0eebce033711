package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
)

// TestAuditNewestFirst: GET /v1/audit?order=desc answers the latest
// matching events, newest first, limit of them; before= pages back from
// there (the seq of a page's last event is the next page's cursor), and
// bounds an oldest-first query too. client.AuditTail gets the latest n,
// oldest first. A bad order or before, or order=desc with format=jsonl
// (an export is in chain order), is 400 invalid_request.
func TestAuditNewestFirst(t *testing.T) {
	ctx := context.Background()
	ts := start(t, t.TempDir())
	var lines []string
	for i := range 300 {
		lines = append(lines, verifyLine("did:key:zSubject"+strconv.Itoa(i%3), i, ""))
	}
	if st, body := ts.postEvents(t, ts.admin.Key(), strings.Join(lines, "\n")); st != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", st, body)
	}
	head := ts.head(t)
	query := func(q string) []audit.Event {
		t.Helper()
		var out api.EventList
		if err := ts.admin.Do(ctx, http.MethodGet, "/v1/audit?"+q, nil, &out); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return out.Events
	}
	seqs := func(evs []audit.Event) []uint64 {
		out := make([]uint64, len(evs))
		for i := range evs {
			out[i] = evs[i].Seq
		}
		return out
	}
	want := func(q string, got []audit.Event, seqs ...uint64) {
		t.Helper()
		if len(got) != len(seqs) {
			t.Fatalf("%s: %d events, want %v", q, len(got), seqs)
		}
		for i := range seqs {
			if got[i].Seq != seqs[i] {
				t.Fatalf("%s: seq %d at %d, want %v", q, got[i].Seq, i, seqs)
			}
		}
	}
	q := "order=desc&limit=3"
	want(q, query(q), head, head-1, head-2)
	q = "order=desc&limit=3&before=" + strconv.FormatUint(head-2, 10)
	want(q, query(q), head-3, head-4, head-5)
	q = "limit=3&before=4"
	want(q, query(q), 1, 2, 3)
	q = "order=asc&limit=2&after=" + strconv.FormatUint(head-2, 10)
	want(q, query(q), head-1, head)
	// A filter applies before the limit: the latest 2 about one subject.
	q = "order=desc&limit=2&agent=did:key:zSubject0"
	got := query(q)
	if len(got) != 2 || got[0].Subject != "did:key:zSubject0" || got[1].Subject != "did:key:zSubject0" || got[0].Seq <= got[1].Seq ||
		got[0].Seq < head-2 {
		t.Fatalf("%s: %v", q, seqs(got))
	}

	tail, err := ts.admin.AuditTail(ctx, client.AuditFilter{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want("AuditTail 4", tail, head-3, head-2, head-1, head)

	for _, q := range []string{"order=newest", "order=desc&before=x", "before=-1", "order=desc&format=jsonl"} {
		err := ts.admin.Do(ctx, http.MethodGet, "/v1/audit?"+q, nil, nil)
		if statusCode(err) != http.StatusBadRequest || problemCode(err) != "invalid_request" {
			t.Errorf("%s: %v, want 400 invalid_request", q, err)
		}
	}
}
