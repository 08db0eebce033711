package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/verifier"
)

// chromiumPath finds Chromium, or skips the test with a plain message.
// With AGENTID_REQUIRE_BROWSER=1 (CI) a missing browser fails instead.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("AGENTID_REQUIRE_BROWSER") == "1" {
		t.Fatal("browser test: chromium is not installed, and AGENTID_REQUIRE_BROWSER=1 requires it (apt-get install chromium)")
	}
	t.Skip("browser test skipped: chromium is not installed (apt-get install chromium; AGENTID_REQUIRE_BROWSER=1 makes this a failure)")
	return ""
}

// pageLog collects what the page wrote to the console, its uncaught
// exceptions, the browser's log entries (CSP violations, failed loads)
// and any JavaScript dialog (an alert means a script ran).
type pageLog struct {
	mu      sync.Mutex
	entries []string
	dialogs []string
}

func (l *pageLog) add(s string) {
	l.mu.Lock()
	l.entries = append(l.entries, s)
	l.mu.Unlock()
}

func (l *pageLog) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
		}
		l.add(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		l.add(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
	case *log.EventEntryAdded:
		if e := ev.Entry; e.Level == log.EntryLevelError || e.Level == log.EntryLevelWarning {
			l.add(fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL))
		}
	case *page.EventJavascriptDialogOpening:
		l.mu.Lock()
		l.dialogs = append(l.dialogs, ev.Message)
		l.mu.Unlock()
	}
}

func (l *pageLog) take() (entries, dialogs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	entries, dialogs = l.entries, l.dialogs
	l.entries, l.dialogs = nil, nil
	return
}

// clean fails the test on any console message, exception or dialog so far.
func (l *pageLog) clean(t *testing.T, when string) {
	t.Helper()
	entries, dialogs := l.take()
	for _, e := range entries {
		t.Errorf("%s: browser console: %s", when, e)
	}
	for _, d := range dialogs {
		t.Errorf("%s: a JavaScript dialog opened (a script ran): %q", when, d)
	}
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T, l *pageLog) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	if os.Geteuid() == 0 {
		// Only because the tests run as root (in CI containers), where
		// Chromium cannot start its sandbox; never otherwise.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(l.listen))
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	// Close any dialog, so that a script that ran is reported rather
	// than hanging the test.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return ctx
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, ctx, what, chromedp.Steps(steps...))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(run(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// TestBrowserConsole drives the console in Chromium: sign in, find an
// issued agent, refuse a form stripped of its CSRF token, revoke the
// agent's credential and watch /v1/verify and a subscribed verifier
// refuse it, watch a revocation made elsewhere arrive live, filter the
// audit, sign out, and replay the old cookie. Owner and purpose carry
// HTML that must show as text and never run.
func TestBrowserConsole(t *testing.T) {
	l := &pageLog{}
	ctx := newBrowser(t, l)
	e := newEnv(t)
	const owner = `<script>alert("owner")</script>`
	const purpose = `<img src=x onerror="alert('purpose')">`
	agent, issued := e.issue(e.admin, owner, purpose)
	other, otherIssued := e.issue(e.admin, "team-b", "other job")

	// A resource API's verifier, following the issuer's change feed.
	vctx, stopV := context.WithCancel(context.Background())
	defer stopV()
	v, err := verifier.ForIssuers(vctx, verifier.TrustConfig{Issuers: []string{e.app.Issuer.DID()}, AllowHTTPLocalhost: true,
		StatusEvents: []string{e.url + "/v1/status/events"}}, verifier.WithAudience("https://calendar.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	subscribed := func() error {
		vp, err := agent.Present(client.PresentOptions{Credential: issued.Credential, Audience: "https://calendar.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), vp, verifier.Request{Scopes: []string{"calendar:read"}})
		return err
	}
	if err := subscribed(); err != nil {
		t.Fatalf("subscribed verifier before the revocation: %v", err)
	}

	// Sign in.
	do(t, ctx, "sign in", chromedp.Navigate(e.link(e.admin)), chromedp.WaitVisible(chromedp.CSS("#count-total")))
	if got := text(t, ctx, "#count-active"); got != "2" {
		t.Fatalf("active agents on the overview: %q", got)
	}
	cookies := run(t, ctx, "cookies", func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{e.url + "/console/"}})
	})
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "agentid_console" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie in the browser: %+v", session)
	}
	if js := run(t, ctx, "document.cookie", chromedp.Evaluate[string]("document.cookie")); strings.Contains(js, "agentid_console") {
		t.Fatal("the session cookie is readable by scripts")
	}

	// The inventory shows the agent, its HTML owner as text.
	do(t, ctx, "inventory", chromedp.Navigate(e.url+"/console/agents?q="+url.QueryEscape(agent.DID)),
		chromedp.WaitVisible(chromedp.CSS("#agents")))
	if got := text(t, ctx, "#agents td.owner"); got != owner {
		t.Fatalf("owner shown as %q", got)
	}
	if got := text(t, ctx, "#agents td.purpose"); got != purpose {
		t.Fatalf("purpose shown as %q", got)
	}
	do(t, ctx, "open the agent", chromedp.Click(chromedp.CSS("#agents a.did")), chromedp.WaitVisible(chromedp.CSS("#agent-status")))
	if got := text(t, ctx, "#agent-status"); got != "active" {
		t.Fatalf("agent status %q", got)
	}
	l.clean(t, "before the revocation")

	// A form stripped of its CSRF token is refused, and changes nothing.
	do(t, ctx, "confirm page", chromedp.Click(chromedp.CSS("#credentials a.button.danger")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	if got := text(t, ctx, "#what-stops"); !strings.Contains(got, "revoked for good") || !strings.Contains(got, "https://calendar.example.com") ||
		!strings.Contains(got, owner) {
		t.Fatalf("the confirmation does not name what stops: %q", got)
	}
	if !run(t, ctx, "strip the token", chromedp.Evaluate[bool](`(() => { const f = document.querySelector('form.confirm-form'); f.querySelector('input[name=csrf]').remove(); return f.querySelectorAll('input[name=csrf]').length === 0 })()`)) {
		t.Fatal("the confirmation form still has a token")
	}
	do(t, ctx, "post without token", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#refusal-code")))
	if got := run(t, ctx, "refusal code", chromedp.AttributeValue(chromedp.CSS("#refusal-code"), "data-code")); got.Value != "csrf" {
		t.Fatalf("form without its CSRF token: code %q", got.Value)
	}
	if res := e.verify(agent, issued.Credential); !res.Valid {
		t.Fatalf("the refused form revoked the credential: %+v", res.Error)
	}
	// The browser logs the 403 of that refused POST; nothing else.
	entries, dialogs := l.take()
	for _, en := range entries {
		if !strings.Contains(en, "status of 403") {
			t.Errorf("browser console after the refused form: %s", en)
		}
	}
	if len(dialogs) > 0 {
		t.Errorf("dialogs: %q", dialogs)
	}

	// Revoke in the console; the subscribed verifier refuses the
	// credential within a second, and so does /v1/verify.
	do(t, ctx, "confirm page again", chromedp.NavigateBack(), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	clicked := time.Now()
	do(t, ctx, "revoke", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#done")))
	seen := awaitRevoked(t, clicked, "the credential", subscribed)
	if seen > time.Second {
		t.Errorf("the subscribed verifier saw the revocation after %v, over 1 s", seen)
	}
	t.Logf("subscribed verifier refused the credential %v after the click (page load included)", seen)
	if res := e.verify(agent, issued.Credential); res.Valid || res.Error == nil || res.Error.Code != "revoked" {
		t.Fatalf("/v1/verify after the console revoked: %+v", res)
	}
	if got := text(t, ctx, "#agent-status"); got != "revoked" {
		t.Fatalf("agent page after revoking: %q", got)
	}

	// A revocation made elsewhere (the API) reaches an open agent page
	// over the status feed, without a reload by the user.
	do(t, ctx, "other agent", chromedp.Navigate(e.url+"/console/agent?did="+url.QueryEscape(other.DID)),
		chromedp.WaitVisible(chromedp.CSS("#agent-status")), chromedp.Sleep(300*time.Millisecond))
	if _, err := e.adminClient.Revoke(context.Background(), otherIssued.ID); err != nil {
		t.Fatal(err)
	}
	// The page reloads itself.
	waitFor(t, ctx, "the open agent page to show the revocation", `(document.querySelector('#agent-status') || {}).textContent === 'revoked'`)

	// Filter the audit.
	do(t, ctx, "audit", chromedp.Navigate(e.url+"/console/audit"), chromedp.WaitVisible(chromedp.CSS("#a-action")),
		chromedp.SetValue(chromedp.CSS("#a-action"), "credential.revoke"), chromedp.Click(chromedp.CSS("#audit-filter")))
	waitFor(t, ctx, "the filtered audit", `location.search.includes('action=credential.revoke') && document.readyState === 'complete' && !!document.querySelector('#events')`)
	rows := run(t, ctx, "audit rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#events tbody tr')].map(r => r.querySelector('.action').textContent + ' ' + r.cells[5].textContent)`))
	if len(rows) != 2 {
		t.Fatalf("filtered audit rows: %q", rows)
	}
	for _, r := range rows {
		if r != "credential.revoke "+e.admin.DID {
			t.Fatalf("audit row %q", r)
		}
	}
	if loc := run(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "action=credential.revoke") {
		t.Fatalf("audit filter URL %q", loc)
	}
	l.clean(t, "before sign-out")

	// Sign out; the old cookie, replayed, is refused.
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signed-out")))
	req, _ := http.NewRequest(http.MethodGet, e.url+"/console/", nil)
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Agentid-Code") != "no_session" {
		t.Fatalf("cookie replayed after sign-out: %d %q", resp.StatusCode, resp.Header.Get("X-Agentid-Code"))
	}
	do(t, ctx, "console after sign-out", chromedp.Navigate(e.url+"/console/"), chromedp.WaitVisible(chromedp.CSS("#refusal-code")))
	entries, dialogs = l.take()
	for _, en := range entries {
		if !strings.Contains(en, "status of 401") {
			t.Errorf("browser console after sign-out: %s", en)
		}
	}
	if len(dialogs) > 0 {
		t.Errorf("dialogs: %q", dialogs)
	}
}

// waitFor evaluates expr in the page until it is true, for at most 5 s.
// An evaluation that races a navigation fails and is retried.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	for start := time.Now(); ; {
		ectx, cancel := context.WithTimeout(ctx, time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("waited 5 s for %s (%v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reasonCode reads a verifier error's reason code.
func reasonCode(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	return codeOf(err)
}

// awaitRevoked polls check (a subscribed verifier's answer) until it is
// refused revoked, at most 3 s after since, and returns how long it took.
func awaitRevoked(t *testing.T, since time.Time, what string, check func() error) time.Duration {
	t.Helper()
	for {
		err := check()
		if code, ok := reasonCode(err); ok && code == "revoked" {
			return time.Since(since)
		}
		if time.Since(since) > 3*time.Second {
			t.Fatalf("the subscribed verifier still says %v to %s after 3 s", err, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
