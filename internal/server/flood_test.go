package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
)

// startAt is start with the App's clock fixed at now, so that a test's
// refusals fall in one aggregation window.
func startAt(t testing.TB, now time.Time) (*testServer, *Server) {
	t.Helper()
	return serveTest(t, "127.0.0.1:0", Config{DataDir: t.TempDir(), Now: func() time.Time { return now }}, nil)
}

func auditHead(t testing.TB, ts *testServer) uint64 {
	t.Helper()
	seq, _, err := ts.app.Audit.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func lastEvent(t testing.TB, ts *testServer) audit.Event {
	t.Helper()
	var last audit.Event
	if err := ts.app.Audit.Query(context.Background(), audit.Filter{}, func(ev *audit.Event) error { last = *ev; return nil }); err != nil {
		t.Fatal(err)
	}
	return last
}

// 10,000 garbage /v1/verify calls from one source cost two audit events
// (the first refusal, then one aggregate), not 10,000; a valid
// verification still writes its own.
func TestVerifyFloodAggregated(t *testing.T) {
	ts, s := startAt(t, time.Now().Truncate(time.Minute).Add(10*time.Second))
	h := s.Handler()
	before := auditHead(t, ts)
	body := `{"presentation":"eyJhbGciOiJFZERTQSJ9.e30.AAAA","audience":"https://calendar.example.com"}`
	for i := range 10_000 {
		req := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
		req.RemoteAddr = "192.0.2.7:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"valid":false`) {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	if n := auditHead(t, ts) - before; n != 1 {
		t.Fatalf("%d audit events during the flood, want 1 (its first refusal)", n)
	}
	if err := ts.app.Refusals.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := auditHead(t, ts) - before; n != 2 {
		t.Fatalf("%d audit events after the flush, want 2", n)
	}
	ev := lastEvent(t, ts)
	if ev.Action != audit.ActionRefusalsAggregate || ev.SourceIP != "192.0.2.7" || ev.Reason != "malformed" ||
		!strings.HasPrefix(ev.Detail, "9999 further refusals of verify ") {
		t.Fatalf("aggregate: %+v", ev)
	}

	// A valid verification is its own event.
	agent := newKey(t)
	out, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	n := auditHead(t, ts)
	if res := ts.verify(t, agent, out.Credential, "calendar:read"); !res.Valid {
		t.Fatalf("valid presentation refused: %+v", res.Error)
	}
	if ev := lastEvent(t, ts); auditHead(t, ts) != n+1 || ev.Action != audit.ActionVerify || ev.Decision != audit.DecisionAllow || ev.Subject != agent.DID {
		t.Fatalf("verification event: %+v", ev)
	}
}

// Refused authentications from one source are aggregated too, and the
// source is the peer's address whatever X-Forwarded-For says.
func TestAuthenticateFloodAggregated(t *testing.T) {
	ts, s := startAt(t, time.Now().Truncate(time.Minute).Add(10*time.Second))
	h := s.Handler()
	before := auditHead(t, ts)
	for i := range 1000 {
		req := httptest.NewRequest(http.MethodGet, "/v1/agents", nil)
		req.RemoteAddr = "192.0.2.8:40000"
		req.Header.Set("Authorization", "VP eyJhbGciOiJFZERTQSJ9.e30.AAAA")
		req.Header.Set("X-Forwarded-For", "203.0.113.1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	if err := ts.app.Refusals.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := auditHead(t, ts) - before; n != 2 {
		t.Fatalf("%d audit events, want 2", n)
	}
	ev := lastEvent(t, ts)
	if ev.Action != audit.ActionRefusalsAggregate || ev.SourceIP != "192.0.2.8" || !strings.HasPrefix(ev.Detail, "999 further refusals of authenticate ") {
		t.Fatalf("aggregate: %+v", ev)
	}
}

// The change feed takes a principal's request presentation: a valid one
// gets a stream, a refused one a 401; without one the stream is anonymous.
func TestStatusEventsAuthenticated(t *testing.T) {
	ts, s := startAt(t, time.Now())
	h := httptest.NewServer(s.Handler())
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key, err := client.LoadKey(filepath.Join(ts.app.cfg.DataDir, AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	get := func(auth string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/v1/status/events", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp.StatusCode
	}
	vp, err := key.Present(client.PresentOptions{Audience: ts.url, Method: http.MethodGet, URL: ts.url + "/v1/status/events"})
	if err != nil {
		t.Fatal(err)
	}
	if st := get("VP " + vp); st != http.StatusOK {
		t.Fatalf("authenticated: %d", st)
	}
	if st := get("VP garbage"); st != http.StatusUnauthorized {
		t.Fatalf("refused presentation: %d, want 401", st)
	}
	if st := get(""); st != http.StatusOK {
		t.Fatalf("anonymous: %d", st)
	}
}
