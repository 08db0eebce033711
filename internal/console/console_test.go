package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/console"
)

func TestSignInOpensSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.get(e.link(e.admin))
	if p.status != http.StatusOK {
		t.Fatalf("sign-in: %d %s", p.status, p.code())
	}
	c := b.cookie
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console/" || c.Secure || len(c.Value) < 40 {
		t.Fatalf("session cookie: %+v", c)
	}
	ov := b.get("/console/")
	if ov.status != http.StatusOK || !strings.Contains(ov.body, e.admin.DID) {
		t.Fatalf("overview: %d", ov.status)
	}
	for h, want := range map[string]string{
		"Cache-Control":   "no-store",
		"X-Frame-Options": "DENY",
		"Referrer-Policy": "same-origin",
	} {
		if got := ov.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	csp := ov.header.Get("Content-Security-Policy")
	if strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// The sign-in is audited under the principal's DID.
	evs, err := e.adminClient.Audit(context.Background(), client.AuditFilter{Action: console.ActionSignIn})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Actor != e.admin.DID || evs[0].Decision != audit.DecisionAllow {
		t.Fatalf("sign-in events: %+v", evs)
	}
}

// On https the cookie is Secure (and __Secure- prefixed) and HSTS is set.
func TestSignInOnHTTPS(t *testing.T) {
	e := newEnvWith(t, true)
	b := e.browser()
	b.signIn(e.admin)
	if c := b.cookie; c.Name != "__Secure-agentid_console" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie on https: %+v", c)
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/console/agents", nil)
	req.AddCookie(b.cookie)
	p := b.do(req)
	if p.status != http.StatusOK || p.header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("page on https: %d, HSTS %q", p.status, p.header.Get("Strict-Transport-Security"))
	}
	// A form post is checked against the https origin.
	tok := csrfRE.FindStringSubmatch(p.body)[1]
	if got := b.post("/console/keys/rotate", url.Values{"csrf": {tok}}, map[string]string{"Origin": e.url}); got.status != http.StatusForbidden || got.code() != "cross_site" {
		t.Fatalf("post from the http origin: %d %q", got.status, got.code())
	}
	if got := b.post("/console/keys/rotate", url.Values{"csrf": {tok}}, map[string]string{"Origin": e.issuer}); got.status != http.StatusSeeOther {
		t.Fatalf("post from the https origin: %d %q", got.status, got.code())
	}
}

func TestStaticAndUnknown(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, c := range []struct {
		path   string
		status int
		ctype  string
	}{
		{"/console/static/console.css", 200, "text/css; charset=utf-8"},
		{"/console/static/console.js", 200, "text/javascript; charset=utf-8"},
		{"/console/static/icon.svg", 200, "image/svg+xml"},
		{"/console/static/nope.js", 404, ""},
		{"/console/static/..%2fconsole.go", 404, ""},
		{"/console/", 401, "text/html; charset=utf-8"},
		{"/console/signed-out", 200, "text/html; charset=utf-8"},
	} {
		p := b.get(c.path)
		if p.status != c.status || (c.ctype != "" && p.header.Get("Content-Type") != c.ctype) {
			t.Errorf("%s: %d %q", c.path, p.status, p.header.Get("Content-Type"))
		}
		if c.status != 404 && p.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", c.path)
		}
	}
}

// TestUnknownPagesArePages: a mistyped console address, or a form's
// address opened as a link, is a console page naming its code, with the
// console's headers — not the API's problem JSON (which it was). The
// API's own unknown endpoints keep their problem JSON.
func TestUnknownPagesArePages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.admin)
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/console/agnets", http.StatusNotFound, "not_found"},
		{"/console/agent/action", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"/console/approval/decide?id=x", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"/console/keys/rotate", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		p := b.get(c.path)
		if p.status != c.status || p.code() != c.code || p.header.Get("Content-Type") != "text/html; charset=utf-8" ||
			!strings.Contains(p.body, `data-code="`+c.code+`"`) {
			t.Errorf("%s: %d %s %q %.200q", c.path, p.status, p.code(), p.header.Get("Content-Type"), p.body)
		}
		if !strings.HasPrefix(p.header.Get("Content-Security-Policy"), "default-src 'none'") || p.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: without the console's headers: %v", c.path, p.header)
		}
	}
	if p := b.get("/v1/nope"); p.status != http.StatusNotFound || p.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("/v1/nope: %d %q", p.status, p.header.Get("Content-Type"))
	}
}

func TestSignInLinkRefused(t *testing.T) {
	e := newEnv(t)
	stranger := newKey(t)
	signin := console.SignInURL(e.url)
	present := func(k *client.Key, o client.PresentOptions) string {
		t.Helper()
		if o.Now.IsZero() {
			o.Now = e.clock.Now()
		}
		tok, err := k.Present(o)
		if err != nil {
			t.Fatal(err)
		}
		return signin + "?token=" + url.QueryEscape(tok)
	}
	good := client.PresentOptions{Audience: console.ConsoleURL(e.url), Method: "GET", URL: signin}
	with := func(f func(*client.PresentOptions)) client.PresentOptions { o := good; f(&o); return o }
	used := e.link(e.admin)
	e.browser().signIn2(used)
	forged := e.link(e.admin)
	forged = flipSignature(forged)

	for _, c := range []struct {
		name, link, code string
	}{
		{"no token", signin, "malformed"},
		{"garbage", signin + "?token=abc", "malformed"},
		{"expired", present(e.admin, with(func(o *client.PresentOptions) { o.Now = e.clock.Now().Add(-2 * time.Minute) })), "expired"},
		{"reused", used, "replayed"},
		{"forged signature", forged, "bad_signature"},
		{"unregistered key", present(stranger, good), "unknown_principal"},
		{"API audience", present(e.admin, with(func(o *client.PresentOptions) { o.Audience = e.url })), "wrong_audience"},
		{"other URL", present(e.admin, with(func(o *client.PresentOptions) { o.URL = e.url + "/console/agents" })), "request_mismatch"},
		{"longer than 60 s", present(e.admin, with(func(o *client.PresentOptions) { o.Lifetime = 5 * time.Minute })), "malformed"},
		{"from the future", present(e.admin, with(func(o *client.PresentOptions) { o.Now = e.clock.Now().Add(time.Minute) })), "not_yet_valid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := e.browser()
			p := b.get(c.link)
			if p.status != http.StatusUnauthorized || p.code() != c.code {
				t.Fatalf("got %d %q, want 401 %q", p.status, p.code(), c.code)
			}
			if b.cookie != nil {
				t.Fatal("a refused link set a session cookie")
			}
			if strings.Contains(p.body, "token=") {
				t.Fatal("the refusal page echoes the token")
			}
		})
	}
}

// signIn2 follows a given link and fails unless it opens a session.
func (b *browser) signIn2(link string) {
	b.e.t.Helper()
	if p := b.get(link); p.status != http.StatusOK || b.cookie == nil {
		b.e.t.Fatalf("sign-in: %d %s", p.status, p.code())
	}
}

// flipSignature changes one character in the middle of the link's JWS
// signature (not the last, whose low bits must stay zero).
func flipSignature(link string) string {
	i := strings.LastIndexByte(link, '.') + 10
	c := byte('A')
	if link[i] == 'A' {
		c = 'B'
	}
	return link[:i] + string(c) + link[i+1:]
}

// A used link stays used across a restart: its jti is in the store.
func TestSignInLinkSingleUseAcrossRestart(t *testing.T) {
	e := newEnv(t)
	l := e.link(e.admin)
	e.browser().signIn2(l)
	e.stop()
	e.start()
	if p := e.browser().get(l); p.status != http.StatusUnauthorized || p.code() != "replayed" {
		t.Fatalf("reused link after restart: %d %q", p.status, p.code())
	}
}

func TestSignOutEndsSessionServerSide(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.admin)
	stolen := *b.cookie
	tok := b.csrf()
	p := b.post("/console/signout", url.Values{"csrf": {tok}}, nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signed-out" {
		t.Fatalf("sign-out: %d %s", p.status, p.header.Get("Location"))
	}
	if b.cookie != nil {
		t.Fatal("sign-out did not clear the cookie")
	}
	// The cookie replayed after sign-out is refused.
	thief := e.browser()
	thief.cookie = &stolen
	if p := thief.get("/console/"); p.status != http.StatusUnauthorized || p.code() != "no_session" {
		t.Fatalf("replayed cookie: %d %q", p.status, p.code())
	}
	evs, err := e.adminClient.Audit(context.Background(), client.AuditFilter{Action: console.ActionSignOut})
	if err != nil || len(evs) != 1 || evs[0].Actor != e.admin.DID {
		t.Fatalf("sign-out events: %+v %v", evs, err)
	}
}

func TestSessionTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.signIn(e.admin)
		stolen := *b.cookie
		e.clock.Advance(console.DefaultIdleTimeout - time.Minute)
		if p := b.get("/console/"); p.status != http.StatusOK {
			t.Fatalf("within the idle timeout: %d %q", p.status, p.code())
		}
		e.clock.Advance(console.DefaultIdleTimeout)
		thief := e.browser()
		thief.cookie = &stolen
		if p := thief.get("/console/"); p.status != http.StatusUnauthorized || p.code() != "session_expired" {
			t.Fatalf("idle session: %d %q", p.status, p.code())
		}
		// Ended for good: it is deleted, not only refused.
		if p := thief.get("/console/"); p.status != http.StatusUnauthorized || p.code() != "no_session" {
			t.Fatalf("idle session, again: %d %q", p.status, p.code())
		}
	})
	t.Run("absolute", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.signIn(e.admin)
		stolen := *b.cookie
		for elapsed := time.Duration(0); elapsed < console.DefaultAbsoluteTimeout-20*time.Minute; elapsed += 20 * time.Minute {
			e.clock.Advance(20 * time.Minute)
			if p := b.get("/console/agents"); p.status != http.StatusOK {
				t.Fatalf("busy session after %v: %d %q", elapsed, p.status, p.code())
			}
		}
		e.clock.Advance(20 * time.Minute)
		thief := e.browser()
		thief.cookie = &stolen
		if p := thief.get("/console/agents"); p.status != http.StatusUnauthorized || p.code() != "session_expired" {
			t.Fatalf("session past its absolute timeout: %d %q", p.status, p.code())
		}
	})
}

func TestStateChangesNeedCSRFAndSameOrigin(t *testing.T) {
	e := newEnv(t)
	agent, issued := e.issue(e.admin, "team-a", "test")
	b := e.browser()
	b.signIn(e.admin)
	tok := b.csrf()
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "did": {agent.DID}, "action": {"revoke"}, "credential": {issued.ID}}
	}
	for _, c := range []struct {
		name string
		form url.Values
		hdr  map[string]string
		code string
	}{
		{"no token", form(""), nil, "csrf"},
		{"wrong token", form(tok[:len(tok)-2] + "xx"), nil, "csrf"},
		{"cross-site origin", form(tok), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "cross_site"},
		{"same-site, other origin", form(tok), map[string]string{"Origin": "http://localhost:1", "Sec-Fetch-Site": "same-site"}, "cross_site"},
		{"other origin only", form(tok), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": ""}, "cross_site"},
		{"neither header", form(tok), map[string]string{"Origin": "", "Sec-Fetch-Site": ""}, "cross_site"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/console/agent/action", c.form, c.hdr)
			if p.status != http.StatusForbidden || p.code() != c.code {
				t.Fatalf("got %d %q, want 403 %q", p.status, p.code(), c.code)
			}
		})
	}
	// Without a session cookie at all (what SameSite=Strict gives a
	// cross-site POST), nothing is done either.
	anon := e.browser()
	if p := anon.post("/console/agent/action", form(tok), nil); p.status != http.StatusUnauthorized {
		t.Fatalf("POST without a session: %d", p.status)
	}
	if res := e.verify(agent, issued.Credential); !res.Valid {
		t.Fatalf("a refused form changed the credential: %+v", res.Error)
	}
	// The same form with its token, from the console, is done.
	if p := b.post("/console/agent/action", form(tok), nil); p.status != http.StatusSeeOther {
		t.Fatalf("good form: %d %q", p.status, p.code())
	}
	if res := e.verify(agent, issued.Credential); res.Valid || res.Error == nil || res.Error.Code != "revoked" {
		t.Fatalf("after revoke: %+v", res)
	}
	evs, err := e.adminClient.Audit(context.Background(), client.AuditFilter{Action: audit.ActionCredentialRevoke})
	if err != nil || len(evs) != 1 || evs[0].Actor != e.admin.DID || evs[0].Credential != issued.ID {
		t.Fatalf("revoke events: %+v %v", evs, err)
	}
}

func TestOrchestratorSeesOnlyItsOwn(t *testing.T) {
	e := newEnv(t)
	alice := e.addOrchestrator("alice")
	bob := e.addOrchestrator("bob")
	aliceAgent, _ := e.issue(alice, "team-alice", "alice's job")
	bobAgent, bobIssued := e.issue(bob, "team-bob", "bob's job")

	b := e.browser()
	b.signIn(alice)
	inv := b.get("/console/agents")
	if inv.status != http.StatusOK || !strings.Contains(inv.body, aliceAgent.DID) || strings.Contains(inv.body, bobAgent.DID) {
		t.Fatalf("alice's inventory: %d, has alice's %v, has bob's %v", inv.status, strings.Contains(inv.body, aliceAgent.DID), strings.Contains(inv.body, bobAgent.DID))
	}
	if p := b.get("/console/agent?did=" + url.QueryEscape(aliceAgent.DID)); p.status != http.StatusOK {
		t.Fatalf("alice's own agent: %d %q", p.status, p.code())
	}
	for _, path := range []string{
		"/console/agent?did=" + url.QueryEscape(bobAgent.DID),
		"/console/agent/confirm?action=revoke&did=" + url.QueryEscape(bobAgent.DID) + "&credential=" + url.QueryEscape(bobIssued.ID),
	} {
		if p := b.get(path); p.status != http.StatusNotFound || p.code() != "unknown_agent" {
			t.Fatalf("%s: %d %q", path, p.status, p.code())
		}
	}
	tok := b.csrf()
	for _, f := range []url.Values{
		{"csrf": {tok}, "did": {bobAgent.DID}, "action": {"revoke"}, "credential": {bobIssued.ID}},
		// Naming her own agent with bob's credential does not help.
		{"csrf": {tok}, "did": {aliceAgent.DID}, "action": {"revoke"}, "credential": {bobIssued.ID}},
		{"csrf": {tok}, "did": {bobAgent.DID}, "action": {"retire"}},
	} {
		p := b.post("/console/agent/action", f, nil)
		if p.status != http.StatusNotFound && p.status != http.StatusForbidden {
			t.Fatalf("action on bob's agent %v: %d %q", f, p.status, p.code())
		}
	}
	if res := e.verify(bobAgent, bobIssued.Credential); !res.Valid {
		t.Fatalf("bob's credential changed: %+v", res.Error)
	}
	for _, path := range []string{"/console/principals", "/console/principals/confirm?did=" + url.QueryEscape(alice.DID), "/console/keys", "/console/audit", "/console/audit/export"} {
		if p := b.get(path); p.status != http.StatusForbidden || p.code() != "forbidden" {
			t.Fatalf("%s as orchestrator: %d %q", path, p.status, p.code())
		}
	}
	if p := b.post("/console/keys/rotate", url.Values{"csrf": {tok}}, nil); p.status != http.StatusForbidden {
		t.Fatalf("rotate as orchestrator: %d", p.status)
	}
	// Removing the principal ends its session.
	if err := e.adminClient.RemovePrincipal(context.Background(), alice.DID); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/console/agents"); p.status != http.StatusUnauthorized || p.code() != "no_session" {
		t.Fatalf("session of a removed principal: %d %q", p.status, p.code())
	}
}

func TestHTMLIsEscaped(t *testing.T) {
	e := newEnv(t)
	const owner = `<script>alert("owner")</script>`
	const purpose = `<img src=x onerror="alert('purpose')">`
	orch := newKey(t)
	if _, err := e.adminClient.AddPrincipal(context.Background(), apiPrincipal(orch.DID, `<b onmouseover=alert(1)>name</b>`)); err != nil {
		t.Fatal(err)
	}
	agent, _ := e.issue(e.admin, owner, purpose)
	b := e.browser()
	b.signIn(e.admin)
	for _, path := range []string{"/console/agents", "/console/agent?did=" + url.QueryEscape(agent.DID), "/console/principals", "/console/audit"} {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d %q", path, p.status, p.code())
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<b onmouseover"} {
			if strings.Contains(p.body, raw) {
				t.Errorf("%s contains unescaped %q", path, raw)
			}
		}
	}
	if p := b.get("/console/agents"); !strings.Contains(p.body, "&lt;script&gt;alert(&#34;owner&#34;)&lt;/script&gt;") {
		t.Error("the owner is not shown escaped")
	}
}

func TestAdminPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(e.admin)
	tok := b.csrf()
	orch := newKey(t)
	p := b.post("/console/principals", url.Values{"csrf": {tok}, "did": {orch.DID}, "role": {"orchestrator"}, "name": {"ci"},
		"ceiling": {"calendar:read, mail:*"}, "maxTtl": {"30m"}}, nil)
	if p.status != http.StatusSeeOther {
		t.Fatalf("add principal: %d %q", p.status, p.code())
	}
	got, err := e.adminClient.Principals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pr := range got {
		if pr.DID == orch.DID {
			found = true
			if strings.Join(pr.Ceiling, " ") != "calendar:read mail:*" || time.Duration(pr.MaxTTL) != 30*time.Minute || pr.CreatedBy != e.admin.DID {
				t.Fatalf("added principal: %+v", pr)
			}
		}
	}
	if !found {
		t.Fatal("principal not added")
	}
	if p := b.post("/console/principals", url.Values{"csrf": {tok}, "did": {"did:example:x"}, "role": {"orchestrator"}, "ceiling": {"a:b"}}, nil); p.status != http.StatusBadRequest || p.code() != "invalid_request" {
		t.Fatalf("bad principal: %d %q", p.status, p.code())
	}
	// The removal is confirmed first, naming what stops.
	_, _ = e.issue(orch, "team-ci", "ci job")
	if p := b.get("/console/principals/confirm?did=" + url.QueryEscape(orch.DID)); p.status != http.StatusOK ||
		!strings.Contains(p.body, "<strong>1</strong> agent(s) it registered") {
		t.Fatalf("removal confirmation: %d %q", p.status, p.code())
	}
	if p := b.get("/console/principals/confirm?did=did:key:nobody"); p.status != http.StatusNotFound {
		t.Fatalf("confirmation for no principal: %d", p.status)
	}
	if p := b.post("/console/principals/remove", url.Values{"csrf": {tok}, "did": {orch.DID}}, nil); p.status != http.StatusSeeOther {
		t.Fatalf("remove principal: %d %q", p.status, p.code())
	}
	if p := b.post("/console/principals/remove", url.Values{"csrf": {tok}, "did": {e.admin.DID}}, nil); p.status != http.StatusConflict || p.code() != "last_admin" {
		t.Fatalf("remove the last admin: %d %q", p.status, p.code())
	}
	keysBefore, _ := e.adminClient.Keys(context.Background())
	if p := b.post("/console/keys/rotate", url.Values{"csrf": {tok}}, nil); p.status != http.StatusSeeOther {
		t.Fatalf("rotate: %d %q", p.status, p.code())
	}
	keysAfter, _ := e.adminClient.Keys(context.Background())
	if len(keysAfter) != len(keysBefore)+1 {
		t.Fatalf("keys %d -> %d", len(keysBefore), len(keysAfter))
	}
	if p := b.get("/console/keys"); p.status != http.StatusOK || strings.Count(p.body, "verifying only") != len(keysBefore) {
		t.Fatalf("keys page: %d", p.status)
	}
	// The audit page: filter, chain check, export.
	p = b.get("/console/audit?action=key.rotate&check=1")
	if p.status != http.StatusOK || !strings.Contains(p.body, "The chain holds") || strings.Count(p.body, `<td class="action">key.rotate</td>`) != 1 ||
		strings.Contains(p.body, `<td class="action">principal.add</td>`) {
		t.Fatalf("audit page: %d", p.status)
	}
	if !strings.Contains(p.body, `href="/console/audit/export?action=key.rotate"`) || !strings.Contains(p.body, `href="/console/audit?action=key.rotate&amp;check=1"`) {
		t.Fatal("the audit page's export and check links do not carry its filter")
	}
	x := b.get("/console/audit/export?action=principal.add&decision=allow")
	if x.status != http.StatusOK || !strings.HasPrefix(x.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d", x.status)
	}
	lines := strings.Split(strings.TrimSpace(x.body), "\n")
	if len(lines) != 2 { // the first admin and ci
		t.Fatalf("export has %d lines: %q", len(lines), x.body)
	}
	if p := b.get("/console/audit?since=yesterday"); p.status != http.StatusBadRequest {
		t.Fatalf("bad since: %d", p.status)
	}
}
