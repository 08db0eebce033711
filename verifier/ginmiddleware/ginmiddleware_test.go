package ginmiddleware_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/ginmiddleware"
	"github.com/agentid/agentid/verifier/middleware"
	"github.com/agentid/agentid/verifier/verifiertest"
)

const (
	issuerDID = "did:web:issuer.example.com"
	aud       = "https://calendar.example.com"
	eventsURL = aud + "/v1/events"
)

func init() { gin.SetMode(gin.TestMode) }

type fixture struct {
	status *verifiertest.Status
	clock  *verifiertest.Clock
	agent  *verifiertest.Agent
	audit  *bytes.Buffer
	cred   string // grants calendar:read for aud
	issuer *verifiertest.Issuer
	router *gin.Engine
	// calls and res are what the route's handler saw.
	calls          int
	res, ctxResult *verifier.Result
}

func newFixture(t *testing.T, opts ...verifier.Option) *fixture {
	t.Helper()
	keys := new(verifiertest.Keys)
	f := &fixture{status: new(verifiertest.Status), audit: new(bytes.Buffer),
		clock: verifiertest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))}
	issuer := verifiertest.NewIssuer(t, issuerDID, keys)
	f.issuer = issuer
	f.agent = verifiertest.NewAgent(t, keys)
	base := []verifier.Option{verifier.WithKeyResolver(keys), verifier.WithTrustedIssuers(issuerDID),
		verifier.WithStatusChecker(f.status), verifier.WithClock(f.clock.Now), verifier.WithAudience(aud),
		verifier.WithAudit(audit.JSONLines(f.audit))}
	v, err := verifier.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.cred = issuer.Credential(t, f.agent.DID, aud, []string{"calendar:read"}, f.clock.Now(), nil)
	cfg := &middleware.Config{Verifier: v}
	f.router = gin.New()
	handler := func(c *gin.Context) {
		f.calls++
		f.res, _ = ginmiddleware.Result(c)
		f.ctxResult, _ = middleware.FromContext(c.Request.Context())
		c.String(http.StatusOK, "ok")
	}
	f.router.GET("/v1/events", ginmiddleware.Require(cfg, "calendar:read"), handler)
	f.router.POST("/v1/events", ginmiddleware.Require(cfg, "calendar:write"), handler)
	return f
}

func (f *fixture) present(t *testing.T, method string, mod func(*vc.Presentation)) string {
	t.Helper()
	return f.agent.Present(t, f.cred, aud, method, eventsURL, f.clock.Now(), mod)
}

func (f *fixture) do(method, vp string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, eventsURL, nil)
	if vp != "" {
		r.Header.Set("Authorization", "VP "+vp)
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, r)
	return w
}

func (f *fixture) wantEvents(t *testing.T, n int, decision string, code reason.Code) {
	t.Helper()
	var evs []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(f.audit.Bytes()))
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != n {
		t.Fatalf("%d audit events, want %d", len(evs), n)
	}
	if ev := evs[n-1]; ev.Decision != decision || ev.Reason != string(code) {
		t.Fatalf("audit event %+v, want %s %q", ev, decision, code)
	}
}

func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, code reason.Code) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
	var p struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code != string(code) {
		t.Fatalf("problem %q (%v), want code %q", w.Body, err, code)
	}
	ch := w.Header().Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, `VP realm="`+aud+`"`) || !strings.HasSuffix(ch, `error="`+string(code)+`"`) {
		t.Fatalf("WWW-Authenticate %q", ch)
	}
}

func TestRequireValid(t *testing.T) {
	f := newFixture(t)
	w := f.do("GET", f.present(t, "GET", nil))
	if w.Code != http.StatusOK || f.calls != 1 {
		t.Fatalf("status %d, calls %d; body %s", w.Code, f.calls, w.Body)
	}
	if f.res == nil || f.res.Agent != f.agent.DID || f.ctxResult != f.res {
		t.Fatalf("Result %+v, FromContext %+v", f.res, f.ctxResult)
	}
	f.wantEvents(t, 1, audit.DecisionAllow, "")
}

func TestRequireMissingPresentation(t *testing.T) {
	f := newFixture(t)
	w := f.do("GET", "")
	wantProblem(t, w, http.StatusUnauthorized, reason.Malformed)
	if got := w.Header().Get("WWW-Authenticate"); got != `VP realm="`+aud+`", error="malformed"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
	if f.calls != 0 {
		t.Fatal("handler called")
	}
	f.wantEvents(t, 1, audit.DecisionDeny, reason.Malformed)
}

func TestRequireNonceChallenge(t *testing.T) {
	f := newFixture(t, verifier.WithRequiredNonce(verifier.NewMemoryNonces(time.Minute, 100)))
	w := f.do("GET", "")
	wantProblem(t, w, http.StatusUnauthorized, reason.Malformed)
	m := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(w.Header().Get("WWW-Authenticate"))
	if m == nil {
		t.Fatalf("no nonce in %q", w.Header().Get("WWW-Authenticate"))
	}
	w = f.do("GET", f.present(t, "GET", func(p *vc.Presentation) { p.Nonce = m[1] }))
	if w.Code != http.StatusOK || f.calls != 1 {
		t.Fatalf("status %d; body %s", w.Code, w.Body)
	}
	f.wantEvents(t, 2, audit.DecisionAllow, "")
}

func TestRequireInsufficientScope(t *testing.T) {
	f := newFixture(t)
	wantProblem(t, f.do("POST", f.present(t, "POST", nil)), http.StatusForbidden, reason.InsufficientScope)
	if f.calls != 0 {
		t.Fatal("handler called")
	}
	f.wantEvents(t, 1, audit.DecisionDeny, reason.InsufficientScope)
}

func TestRequireRevoked(t *testing.T) {
	f := newFixture(t)
	if w := f.do("GET", f.present(t, "GET", nil)); w.Code != http.StatusOK {
		t.Fatalf("before revocation: %d", w.Code)
	}
	f.status.Set(verifiertest.StatusIndex(t, f.cred, "revocation"), reason.New(reason.Revoked, "bit set"))
	wantProblem(t, f.do("GET", f.present(t, "GET", nil)), http.StatusUnauthorized, reason.Revoked)
	if f.calls != 1 {
		t.Fatalf("handler called %d times", f.calls)
	}
	f.wantEvents(t, 2, audit.DecisionDeny, reason.Revoked)
}
