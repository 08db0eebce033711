package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
)

// slowPages is a server whose audit log holds events seq 1 to total and
// whose inventory holds total agents, answering GET /v1/audit (JSON and
// format=jsonl) and GET /v1/agents as the issuer does (limit, after,
// cursor), in pages of at most page items, each page held for delay
// before it is written: an answer without a limit (the export) is every
// event, page after page. It counts the requests.
type slowPages struct {
	total, page int
	delay       atomic.Int64 // a time.Duration
	requests    atomic.Int32
}

func line(seq int) string { return fmt.Sprintf(`{"seq":%d,"action":"verify","hash":"h%d"}`, seq, seq) }

func (s *slowPages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	switch r.URL.Path {
	case "/v1/audit":
		after, _ := strconv.Atoi(q.Get("after"))
		if q.Get("format") != "jsonl" {
			out := api.EventList{Events: []audit.Event{}}
			for seq := after + 1; seq <= s.total && len(out.Events) < limit; seq++ {
				out.Events = append(out.Events, audit.Event{Seq: uint64(seq)})
			}
			time.Sleep(time.Duration(s.delay.Load()))
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		w.Header().Set("Content-Type", "application/jsonl")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		n := 0
		for seq := after + 1; seq <= s.total && (limit == 0 || n < limit); seq++ {
			if n%s.page == 0 {
				time.Sleep(time.Duration(s.delay.Load()))
			}
			fmt.Fprintln(w, line(seq))
			n++
			if n%s.page == 0 {
				w.(http.Flusher).Flush()
			}
		}
	case "/v1/agents":
		from := 0
		if c := q.Get("cursor"); c != "" {
			from, _ = strconv.Atoi(strings.TrimPrefix(c, "did:key:z"))
		}
		out := api.AgentList{Agents: []api.Agent{}}
		for i := from + 1; i <= s.total && len(out.Agents) < limit; i++ {
			out.Agents = append(out.Agents, api.Agent{DID: fmt.Sprintf("did:key:z%06d", i)})
		}
		if last := len(out.Agents); last > 0 && from+last < s.total {
			out.Next = out.Agents[last-1].DID
		}
		time.Sleep(time.Duration(s.delay.Load()))
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.NotFound(w, r)
	}
}

// TestPagedCallsOutliveTimeout: the HTTP client's Timeout (30 s by
// default; 1 s here) bounds each request, and so each page of a paged
// call, not the whole call: an export, a tail or a listing of slow pages
// (400 ms each, 1.6 s in all) completes. Before, AuditExport was one
// request that streamed the whole log and was cut once the timeout had
// passed ('agentid audit export', and 'audit verify --head', which reads
// the export, failed on a large deployment). A page slower than the
// timeout still fails.
func TestPagedCallsOutliveTimeout(t *testing.T) {
	const timeout, delay, page, total = time.Second, 400 * time.Millisecond, 3, 11 // 4 pages
	key, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for seq := 1; seq <= total; seq++ {
		want.WriteString(line(seq) + "\n")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(cl *client.Client, s *slowPages) error
	}{
		{"AuditExport", func(cl *client.Client, s *slowPages) error {
			var buf bytes.Buffer
			if err := cl.AuditExport(ctx, client.AuditFilter{PageSize: page}, &buf); err != nil {
				return err
			}
			if buf.String() != want.String() {
				return fmt.Errorf("exported:\n%s\nwant:\n%s", buf.String(), want.String())
			}
			return nil
		}},
		{"AuditTail", func(cl *client.Client, s *slowPages) error {
			// AuditTail asks for pages of the server's largest size,
			// 10,000 events.
			evs, err := cl.AuditTail(ctx, client.AuditFilter{}, 2)
			if err == nil && (len(evs) != 2 || evs[1].Seq != uint64(s.total)) {
				err = fmt.Errorf("tail: %+v", evs)
			}
			return err
		}},
		{"EachAgent", func(cl *client.Client, s *slowPages) error {
			n := 0
			err := cl.EachAgent(ctx, client.AgentFilter{PageSize: page}, func(*api.Agent) error { n++; return nil })
			if err == nil && n != total {
				err = fmt.Errorf("listed %d agents, want %d", n, total)
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &slowPages{total: total, page: page}
			s.delay.Store(int64(delay))
			if tc.name == "AuditTail" {
				s.total = 2*10_000 + 2 // three pages of AuditTail's size
			}
			hs := httptest.NewServer(s)
			defer hs.Close()
			cl := client.New(hs.URL, key, client.WithHTTPClient(&http.Client{Timeout: timeout}))
			start := time.Now()
			if err := tc.run(cl, s); err != nil {
				t.Fatalf("after %v and %d requests: %v", time.Since(start).Round(time.Millisecond), s.requests.Load(), err)
			}
			if el := time.Since(start); el <= timeout {
				t.Fatalf("the call took %v, not more than the timeout: the test shows nothing", el)
			}

			// One page slower than the timeout is cut.
			s.delay.Store(int64(timeout + 250*time.Millisecond))
			if err := tc.run(cl, s); err == nil {
				t.Fatal("a page slower than the client's timeout succeeded")
			}
		})
	}
}

// TestAuditExportWholeLines: AuditExport writes whole lines only. A page
// larger than it reads at once (16 MiB; events of 60 KiB here) is cut
// after its last whole event and the next page starts there, so the
// output is still every event exactly once; an answer that ends inside
// an event (the server's export failed part way) is an error after the
// whole lines before it. Before, a broken answer was copied as it came,
// with its half line, and the export succeeded.
func TestAuditExportWholeLines(t *testing.T) {
	const total = 400 // 24 MB
	pad := strings.Repeat("x", 60<<10)
	big := func(seq int) string { return fmt.Sprintf(`{"seq":%d,"detail":"%s"}`, seq, pad) }
	var broken atomic.Bool
	var mu sync.Mutex
	var afters []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		after, _ := strconv.Atoi(q.Get("after"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		mu.Lock()
		afters = append(afters, q.Get("after"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/jsonl")
		for seq, n := after+1, 0; seq <= total && (limit == 0 || n < limit); seq, n = seq+1, n+1 {
			if broken.Load() && seq == 3 {
				fmt.Fprint(w, big(seq)[:100])
				return
			}
			fmt.Fprintln(w, big(seq))
		}
	}))
	defer hs.Close()
	key, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(hs.URL, key)
	var buf bytes.Buffer
	if err := cl.AuditExport(context.Background(), client.AuditFilter{}, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != total {
		t.Fatalf("%d lines, want %d", len(lines), total)
	}
	for i, l := range lines {
		if l != big(i+1) {
			t.Fatalf("line %d is not event %d: %.40q", i+1, i+1, l)
		}
	}
	mu.Lock()
	pages := afters
	mu.Unlock()
	if len(pages) != 2 || pages[0] != "" || pages[1] == "" {
		t.Fatalf("pages after %q, want two, the second after the first's last whole event", pages)
	}

	broken.Store(true)
	buf.Reset()
	if err := cl.AuditExport(context.Background(), client.AuditFilter{}, &buf); err == nil || !strings.Contains(err.Error(), "ends inside an event") {
		t.Fatalf("an answer cut inside an event: %v", err)
	}
	if want := big(1) + "\n" + big(2) + "\n"; buf.String() != want {
		t.Fatalf("wrote %d bytes before the broken line, want the %d of two whole events", buf.Len(), len(want))
	}
}
