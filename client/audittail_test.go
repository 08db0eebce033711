package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
)

// TestAuditTailPages: against a server that ignores order=desc (one
// older than it), AuditTail follows the server's pages (oldest first, at
// most 10,000 each) to the end and keeps the latest n.
func TestAuditTailPages(t *testing.T) {
	const total = 25_003
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit == 0 || limit > 10_000 {
			limit = 1000
		}
		out := api.EventList{Events: []audit.Event{}}
		for s := after + 1; s <= total && len(out.Events) < limit; s++ {
			out.Events = append(out.Events, audit.Event{Seq: s, Action: audit.ActionVerify})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer hs.Close()
	key, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := client.New(hs.URL, key).AuditTail(context.Background(), client.AuditFilter{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 || evs[0].Seq != total-4 || evs[4].Seq != total {
		t.Fatalf("AuditTail(5) of %d events: %+v", total, evs)
	}
}

// descLog serves GET /v1/audit for a log of total events as the server
// does (limit 1000 by default, at most 10,000; after=, before=,
// order=desc), counting the requests and the events it answers.
type descLog struct {
	total            uint64
	requests, served atomic.Int64
}

func (l *descLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.requests.Add(1)
	q := r.URL.Query()
	after, _ := strconv.ParseUint(q.Get("after"), 10, 64)
	before, _ := strconv.ParseUint(q.Get("before"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit == 0 || limit > 10_000 {
		limit = 1000
	}
	hi := l.total
	if before != 0 && before-1 < hi {
		hi = before - 1
	}
	out := api.EventList{Events: []audit.Event{}}
	if q.Get("order") == "desc" {
		for s := hi; s > after && len(out.Events) < limit; s-- {
			out.Events = append(out.Events, audit.Event{Seq: s, Action: audit.ActionVerify})
		}
	} else {
		for s := after + 1; s <= hi && len(out.Events) < limit; s++ {
			out.Events = append(out.Events, audit.Event{Seq: s, Action: audit.ActionVerify})
		}
	}
	l.served.Add(int64(len(out.Events)))
	_ = json.NewEncoder(w).Encode(out)
}

// TestAuditTailFromTheEnd: AuditTail reads the log from its end
// (order=desc, paging back with before=): the latest n events of a log of
// several pages, oldest first, in as many requests as n needs, never the
// whole log. Before, it paged through the log from the start (3 requests
// and 25,003 events for the latest 5).
func TestAuditTailFromTheEnd(t *testing.T) {
	const total = 25_003
	key, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		total, n       int
		requests, most int64 // requests sent; most events read
	}{
		{total, 1, 1, 2},
		{total, 5, 1, 5},
		{total, 10_000, 1, 10_000},
		{total, 12_000, 2, 12_000},
		{7, 10, 1, 7},
		{0, 3, 1, 0},
	} {
		t.Run(strconv.Itoa(tc.total)+"/"+strconv.Itoa(tc.n), func(t *testing.T) {
			l := &descLog{total: uint64(tc.total)}
			hs := httptest.NewServer(l)
			defer hs.Close()
			evs, err := client.New(hs.URL, key).AuditTail(context.Background(), client.AuditFilter{Action: audit.ActionVerify}, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			want := min(tc.n, tc.total)
			if len(evs) != want {
				t.Fatalf("%d events, want %d", len(evs), want)
			}
			for i, ev := range evs {
				if ev.Seq != uint64(tc.total-want+1+i) {
					t.Fatalf("seq %d at %d, want the latest %d oldest first", ev.Seq, i, want)
				}
			}
			if r, s := l.requests.Load(), l.served.Load(); r != tc.requests || s > tc.most {
				t.Fatalf("%d requests reading %d events, want %d reading at most %d", r, s, tc.requests, tc.most)
			}
		})
	}
}
