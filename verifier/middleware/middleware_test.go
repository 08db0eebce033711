package middleware_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
	"github.com/agentid/agentid/verifier/verifiertest"
)

const (
	issuerDID = "did:web:issuer.example.com"
	aud       = "https://calendar.example.com"
	eventsURL = aud + "/v1/events"
)

// fixture is a verifier over verifiertest's fakes with a fixed clock, an
// audit sink writing JSON lines to a buffer, and a middleware config.
type fixture struct {
	keys   *verifiertest.Keys
	status *verifiertest.Status
	clock  *verifiertest.Clock
	issuer *verifiertest.Issuer
	agent  *verifiertest.Agent
	audit  *bytes.Buffer
	cfg    *middleware.Config
	// cred grants calendar:read for aud.
	cred string
}

func newFixture(t *testing.T, opts ...verifier.Option) *fixture {
	t.Helper()
	f := &fixture{
		keys: new(verifiertest.Keys), status: new(verifiertest.Status), audit: new(bytes.Buffer),
		clock: verifiertest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)),
	}
	f.issuer = verifiertest.NewIssuer(t, issuerDID, f.keys)
	f.agent = verifiertest.NewAgent(t, f.keys)
	base := []verifier.Option{verifier.WithKeyResolver(f.keys), verifier.WithTrustedIssuers(issuerDID),
		verifier.WithStatusChecker(f.status), verifier.WithClock(f.clock.Now), verifier.WithAudience(aud),
		verifier.WithAudit(audit.JSONLines(f.audit))}
	v, err := verifier.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = &middleware.Config{Verifier: v}
	f.cred = f.issuer.Credential(t, f.agent.DID, aud, []string{"calendar:read"}, f.clock.Now(), nil)
	return f
}

// present signs a presentation of f.cred bound to method and url.
func (f *fixture) present(t *testing.T, method, url string, mod func(*vc.Presentation)) string {
	t.Helper()
	return f.agent.Present(t, f.cred, aud, method, url, f.clock.Now(), mod)
}

// events decodes the audit lines written so far.
func (f *fixture) events(t *testing.T) []audit.Event {
	t.Helper()
	var out []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(f.audit.Bytes()))
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// wantLastEvent checks that exactly n events were recorded and that the
// last one has the decision and reason.
func (f *fixture) wantLastEvent(t *testing.T, n int, decision string, code reason.Code) {
	t.Helper()
	evs := f.events(t)
	if len(evs) != n {
		t.Fatalf("%d audit events, want %d", len(evs), n)
	}
	if ev := evs[n-1]; ev.Action != audit.ActionVerify || ev.Decision != decision || ev.Reason != string(code) {
		t.Fatalf("audit event %+v, want %s %q", ev, decision, code)
	}
}

// recorder is a handler that remembers what Require put in the context.
type recorder struct {
	calls int
	res   *verifier.Result
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls++
	h.res, _ = middleware.FromContext(r.Context())
	w.WriteHeader(http.StatusOK)
}

func do(h http.Handler, method, target, vp string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if vp != "" {
		r.Header.Set("Authorization", "VP "+vp)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantProblem checks a refusal: status, problem JSON with the code, and for
// 401 and 403 a WWW-Authenticate challenge naming the realm and the code.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code reason.Code) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body, err)
	}
	if p.Code != string(code) || p.Status != status || !strings.HasSuffix(p.Type, "/"+string(code)) {
		t.Fatalf("problem %+v, want code %q status %d", p, code, status)
	}
	ch := w.Header().Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, `VP realm="`+aud+`"`) || !strings.HasSuffix(ch, `error="`+string(code)+`"`) {
		t.Fatalf("WWW-Authenticate %q", ch)
	}
}

func TestRequireValid(t *testing.T) {
	f := newFixture(t)
	h := new(recorder)
	srv := middleware.Require(f.cfg, "calendar:read")(h)
	w := do(srv, "GET", eventsURL+"?from=today", f.present(t, "GET", eventsURL, nil))
	if w.Code != http.StatusOK || h.calls != 1 {
		t.Fatalf("status %d, handler calls %d; body %s", w.Code, h.calls, w.Body)
	}
	if h.res == nil || h.res.Agent != f.agent.DID || h.res.Issuer != issuerDID || len(h.res.Scopes) != 1 || h.res.Scopes[0] != "calendar:read" {
		t.Fatalf("FromContext: %+v", h.res)
	}
	f.wantLastEvent(t, 1, audit.DecisionAllow, "")
	if ev := f.events(t)[0]; ev.Subject != f.agent.DID || ev.Resource != eventsURL || ev.SourceIP != "192.0.2.1" || ev.RequestID == "" {
		t.Fatalf("audit event %+v", ev)
	}
}

func TestRequireMissingPresentation(t *testing.T) {
	f := newFixture(t)
	h := new(recorder)
	srv := middleware.Require(f.cfg, "calendar:read")(h)
	for i, auth := range []string{"", "Bearer abc", "VP", "VP "} {
		r := httptest.NewRequest("GET", eventsURL, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		wantProblem(t, w, http.StatusUnauthorized, reason.Malformed)
		if got := w.Header().Get("WWW-Authenticate"); got != `VP realm="`+aud+`", error="malformed"` {
			t.Fatalf("%q: WWW-Authenticate %q", auth, got)
		}
		f.wantLastEvent(t, i+1, audit.DecisionDeny, reason.Malformed)
	}
	if h.calls != 0 {
		t.Fatal("handler called without a presentation")
	}
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

func TestRequireNonceChallenge(t *testing.T) {
	f := newFixture(t, verifier.WithRequiredNonce(verifier.NewMemoryNonces(time.Minute, 100)))
	h := new(recorder)
	srv := middleware.Require(f.cfg, "calendar:read")(h)

	w := do(srv, "GET", eventsURL, "")
	wantProblem(t, w, http.StatusUnauthorized, reason.Malformed)
	m := nonceRE.FindStringSubmatch(w.Header().Get("WWW-Authenticate"))
	if m == nil {
		t.Fatalf("challenge without nonce: %q", w.Header().Get("WWW-Authenticate"))
	}
	nonce := m[1]

	// A presentation carrying the challenge's nonce is admitted.
	w = do(srv, "GET", eventsURL, f.present(t, "GET", eventsURL, func(p *vc.Presentation) { p.Nonce = nonce }))
	if w.Code != http.StatusOK || h.calls != 1 {
		t.Fatalf("with nonce: status %d; body %s", w.Code, w.Body)
	}
	// The nonce is single-use; the refusal carries a fresh one.
	w = do(srv, "GET", eventsURL, f.present(t, "GET", eventsURL, func(p *vc.Presentation) { p.Nonce = nonce }))
	wantProblem(t, w, http.StatusUnauthorized, reason.BadNonce)
	if m := nonceRE.FindStringSubmatch(w.Header().Get("WWW-Authenticate")); m == nil || m[1] == nonce {
		t.Fatalf("no fresh nonce: %q", w.Header().Get("WWW-Authenticate"))
	}
	// Without a nonce at all.
	w = do(srv, "GET", eventsURL, f.present(t, "GET", eventsURL, nil))
	wantProblem(t, w, http.StatusUnauthorized, reason.BadNonce)
	f.wantLastEvent(t, 4, audit.DecisionDeny, reason.BadNonce)
	if h.calls != 1 {
		t.Fatalf("handler called %d times", h.calls)
	}
}

func TestRequireRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		scopes []string
		setup  func(t *testing.T, f *fixture) string // returns the presentation
		status int
		code   reason.Code
	}{
		{"insufficient scope", []string{"calendar:write"}, func(t *testing.T, f *fixture) string {
			return f.present(t, "GET", eventsURL, nil)
		}, http.StatusForbidden, reason.InsufficientScope},
		{"revoked", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			f.status.Set(verifiertest.StatusIndex(t, f.cred, "revocation"), reason.New(reason.Revoked, "bit set"))
			return f.present(t, "GET", eventsURL, nil)
		}, http.StatusUnauthorized, reason.Revoked},
		{"revoked (bare code from the status checker)", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			f.status.Set(verifiertest.StatusIndex(t, f.cred, "revocation"), reason.Revoked)
			return f.present(t, "GET", eventsURL, nil)
		}, http.StatusUnauthorized, reason.Revoked},
		{"suspended", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			f.status.Set(verifiertest.StatusIndex(t, f.cred, "suspension"), reason.New(reason.Suspended, "bit set"))
			return f.present(t, "GET", eventsURL, nil)
		}, http.StatusUnauthorized, reason.Suspended},
		{"status unavailable", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			f.status.Set(verifiertest.StatusIndex(t, f.cred, "revocation"), errors.New("connection refused"))
			return f.present(t, "GET", eventsURL, nil)
		}, http.StatusUnauthorized, reason.StatusUnavailable},
		{"source network", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			// httptest requests come from 192.0.2.1.
			f.cred = f.issuer.Credential(t, f.agent.DID, aud, []string{"calendar:read"}, f.clock.Now(), func(c *vc.Credential) {
				c.CredentialSubject.Constraints = &vc.Constraints{SourceNetworks: []string{"10.0.0.0/8"}}
			})
			return f.present(t, "GET", eventsURL, nil)
		}, http.StatusForbidden, reason.ConstraintViolated},
		{"wrong method", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			return f.present(t, "DELETE", eventsURL, nil)
		}, http.StatusUnauthorized, reason.RequestMismatch},
		{"expired presentation", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			vp := f.present(t, "GET", eventsURL, nil)
			f.clock.Advance(3 * time.Minute)
			return vp
		}, http.StatusUnauthorized, reason.Expired},
		{"garbage", []string{"calendar:read"}, func(t *testing.T, f *fixture) string {
			return "a.b.c"
		}, http.StatusUnauthorized, reason.Malformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			h := new(recorder)
			srv := middleware.Require(f.cfg, c.scopes...)(h)
			w := do(srv, "GET", eventsURL, c.setup(t, f))
			wantProblem(t, w, c.status, c.code)
			if h.calls != 0 {
				t.Fatal("handler called on a refusal")
			}
			f.wantLastEvent(t, 1, audit.DecisionDeny, c.code)
		})
	}
}

func TestRequireReplay(t *testing.T) {
	f := newFixture(t)
	srv := middleware.Require(f.cfg, "calendar:read")(new(recorder))
	vp := f.present(t, "GET", eventsURL, nil)
	if w := do(srv, "GET", eventsURL, vp); w.Code != http.StatusOK {
		t.Fatalf("first use: %d %s", w.Code, w.Body)
	}
	wantProblem(t, do(srv, "GET", eventsURL, vp), http.StatusUnauthorized, reason.Replayed)
	f.wantLastEvent(t, 2, audit.DecisionDeny, reason.Replayed)
}

// TestRequestURL checks how htu is rebuilt: from BaseURL behind a proxy, or
// from the request's scheme and Host header.
func TestRequestURL(t *testing.T) {
	const internal = "http://10.0.0.5:8080/v1/events"
	for _, c := range []struct {
		name, base, target string
		url                string // what RequestURL rebuilds
		htu                string // what the agent signed
		ok                 bool
	}{
		{"BaseURL, htu names the public origin", aud, internal + "?q=1", eventsURL, eventsURL, true},
		{"BaseURL with a trailing slash", aud + "/", internal, eventsURL, eventsURL, true},
		{"BaseURL, htu names the internal origin", aud, internal, eventsURL, internal, false},
		{"Host, htu names the internal origin", "", internal + "?q=1", internal, internal, true},
		{"Host, htu names the public origin", "", internal, internal, eventsURL, false},
		{"Host over TLS is https", "", eventsURL, eventsURL, eventsURL, true},
		{"Host over TLS, htu says http", "", eventsURL, eventsURL, "http://calendar.example.com/v1/events", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.cfg.BaseURL = c.base
			if got := f.cfg.RequestURL(httptest.NewRequest("GET", c.target, nil)); got != c.url {
				t.Fatalf("RequestURL = %q, want %q", got, c.url)
			}
			h := new(recorder)
			w := do(middleware.Require(f.cfg, "calendar:read")(h), "GET", c.target, f.present(t, "GET", c.htu, nil))
			if c.ok {
				if w.Code != http.StatusOK {
					t.Fatalf("status %d; body %s", w.Code, w.Body)
				}
				f.wantLastEvent(t, 1, audit.DecisionAllow, "")
				return
			}
			wantProblem(t, w, http.StatusUnauthorized, reason.RequestMismatch)
			f.wantLastEvent(t, 1, audit.DecisionDeny, reason.RequestMismatch)
		})
	}
}

func TestRequireSourceIPFunc(t *testing.T) {
	f := newFixture(t)
	f.cred = f.issuer.Credential(t, f.agent.DID, aud, []string{"calendar:read"}, f.clock.Now(), func(c *vc.Credential) {
		c.CredentialSubject.Constraints = &vc.Constraints{SourceNetworks: []string{"10.0.0.0/8"}}
	})
	f.cfg.SourceIP = func(*http.Request) string { return "10.1.2.3" }
	w := do(middleware.Require(f.cfg, "calendar:read")(new(recorder)), "GET", eventsURL, f.present(t, "GET", eventsURL, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d; body %s", w.Code, w.Body)
	}
	if ev := f.events(t)[0]; ev.SourceIP != "10.1.2.3" {
		t.Fatalf("audit source %q", ev.SourceIP)
	}
}

func TestRequireRequestID(t *testing.T) {
	f := newFixture(t)
	srv := middleware.Require(f.cfg, "calendar:read")(new(recorder))
	for _, c := range []struct {
		id   string
		kept bool
	}{
		{"req-42", true},
		{strings.Repeat("x", 129), false},
		{"bad id", false},
	} {
		r := httptest.NewRequest("GET", eventsURL, nil)
		r.Header.Set("Authorization", "VP "+f.present(t, "GET", eventsURL, nil))
		r.Header.Set("X-Request-Id", c.id)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%q: status %d", c.id, w.Code)
		}
		evs := f.events(t)
		got := evs[len(evs)-1].RequestID
		if (got == c.id) != c.kept || got == "" {
			t.Fatalf("request id %q recorded as %q", c.id, got)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRequireAuditFailure(t *testing.T) {
	f := newFixture(t)
	v, err := verifier.New(verifier.WithKeyResolver(f.keys), verifier.WithTrustedIssuers(issuerDID),
		verifier.WithStatusChecker(f.status), verifier.WithClock(f.clock.Now), verifier.WithAudience(aud),
		verifier.WithAudit(audit.JSONLines(failingWriter{})))
	if err != nil {
		t.Fatal(err)
	}
	h := new(recorder)
	w := do(middleware.Require(&middleware.Config{Verifier: v}, "calendar:read")(h), "GET", eventsURL, f.present(t, "GET", eventsURL, nil))
	if w.Code != http.StatusServiceUnavailable || h.calls != 0 {
		t.Fatalf("status %d, handler calls %d", w.Code, h.calls)
	}
}
