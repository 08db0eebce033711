package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatusObserverMetrics: the Checker hook counts into
// agentid_status_checks_total, which /metrics exposes.
func TestStatusObserverMetrics(t *testing.T) {
	ts := start(t, t.TempDir())
	s, err := NewServer(ts.app, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obs := s.m.statusObserver()
	for _, ev := range []string{"hit", "hit", "fetch", "fetch_error", "bogus"} {
		obs(ev)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`agentid_status_checks_total{event="hit"} 2`,
		`agentid_status_checks_total{event="fetch"} 1`,
		`agentid_status_checks_total{event="fetch_error"} 1`,
		`agentid_status_checks_total{event="other"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
