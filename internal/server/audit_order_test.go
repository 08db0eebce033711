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
// (an export is in chain order), is 400 invalid_request. On bbolt and on
// PostgreSQL.
func TestAuditNewestFirst(t *testing.T) {
	t.Run("bbolt", func(t *testing.T) { checkAuditNewestFirst(t, start(t, t.TempDir())) })
	t.Run("postgres", func(t *testing.T) { checkAuditNewestFirst(t, startReplicas(t, 1)[0].testServer) })
}

func checkAuditNewestFirst(t *testing.T, ts *testServer) {
	ctx := context.Background()
	var lines []string
	for i := range 2500 { // beyond two of the log's read windows (1024)
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

	// Paging back from the end yields every event once, newest first.
	next := head
	for before := uint64(0); ; {
		q := "order=desc&limit=1000"
		if before != 0 {
			q += "&before=" + strconv.FormatUint(before, 10)
		}
		page := query(q)
		for _, ev := range page {
			if ev.Seq != next {
				t.Fatalf("%s: seq %d, want %d", q, ev.Seq, next)
			}
			next--
		}
		if len(page) < 1000 {
			break
		}
		before = page[len(page)-1].Seq
	}
	if next != 0 {
		t.Fatalf("paging back stopped above seq %d", next)
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
