package console_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// a11yCheck returns what a page gets wrong, as a list of problems: a
// form control without a label, an image or chart without a text
// alternative, a page wider than the viewport (horizontal scrolling of
// the page itself; tables scroll in their own box), a missing main
// landmark or h1, a link or button without a name.
const a11yCheck = `(() => {
  const bad = [];
  for (const e of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (e.labels.length === 0 && !e.getAttribute('aria-label')) bad.push('unlabelled ' + e.outerHTML.slice(0, 80));
  }
  for (const s of document.querySelectorAll('svg[role=img]')) {
    const id = s.getAttribute('aria-labelledby');
    if (!id || !document.getElementById(id) || !document.getElementById(id).textContent.trim()) bad.push('chart without a label');
  }
  for (const e of document.querySelectorAll('a, button')) {
    if (!(e.textContent.trim() || e.getAttribute('aria-label'))) bad.push('nameless ' + e.outerHTML.slice(0, 80));
  }
  // Text contrast (WCAG 2 AA): 4.5:1, or 3:1 for large text, against
  // the first opaque background behind it.
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3); } return [255, 255, 255]; };
  for (const el of document.querySelectorAll('body *')) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none' || el.closest('[hidden], .skip, .sr')) continue;
    const l1 = lum(rgb(st.color)), l2 = lum(bg(el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push('contrast ' + ratio.toFixed(2) + ' for "' + el.textContent.trim().slice(0, 30) + '"');
  }
  if (!document.querySelector('main')) bad.push('no main landmark');
  if (document.querySelectorAll('h1').length !== 1) bad.push('not exactly one h1');
  if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('page is ' + document.documentElement.scrollWidth + 'px wide in a ' + window.innerWidth + 'px viewport');
  return bad;
})()`

// TestBrowserPages opens every console page at desktop and phone sizes
// in Chromium, checks labels, names, landmarks and width, keyboard focus
// order, and that nothing is written to the browser console. With
// AGENTID_CONSOLE_SCREENSHOTS=DIR it also saves screenshots of the main
// pages there (docs/console is where the docs take them from).
func TestBrowserPages(t *testing.T) {
	l := &pageLog{}
	ctx := newBrowser(t, l)
	e := newEnv(t)
	shots := os.Getenv("AGENTID_CONSOLE_SCREENSHOTS")

	// An inventory worth looking at: agents of two orchestrators, in
	// several statuses, with verifications and refusals in the audit.
	ops := e.addOrchestrator("ops-orchestrator")
	cal := e.addOrchestrator("calendar-bot")
	type made struct {
		key    *client.Key
		issued *api.Issued
	}
	var agents []made
	for i, spec := range []struct {
		by             *client.Key
		owner, purpose string
	}{
		{ops, "team-payments", "reconcile invoices nightly"},
		{ops, "team-payments", "summarise meeting notes"},
		{cal, "team-calendar", "book rooms for on-call handover"},
		{cal, "team-calendar", "triage calendar invites"},
		{e.admin, "security", "rotate canary credentials"},
	} {
		k, iss := e.issue(spec.by, spec.owner, spec.purpose)
		agents = append(agents, made{k, iss})
		for j := 0; j < 3+i*2; j++ {
			e.verify(k, iss.Credential)
		}
	}
	bg := context.Background()
	if _, err := e.adminClient.Suspend(bg, agents[1].issued.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adminClient.Revoke(bg, agents[3].issued.ID); err != nil {
		t.Fatal(err)
	}
	for range 4 { // uses of a dead credential: the riskiest agent
		e.verify(agents[3].key, agents[3].issued.Credential)
	}
	e.verify(agents[1].key, agents[1].issued.Credential)

	// A job's delegation tree, its middle agent suspended; approval
	// requests, one pending, one approved, one denied.
	f := e.family(e.admin, "nightly-close-2026-12")
	if _, err := e.adminClient.Suspend(bg, f.child.issued.ID); err != nil {
		t.Fatal(err)
	}
	booker := e.addPrincipal("room-booker", "orchestrator", false)
	_, pending := e.ask(booker, "book rooms for the offsite", "offsite-q1")
	_, approved := e.ask(booker, "move the on-call calendar", "")
	_, denied := e.ask(booker, "write to every calendar", "")
	if _, err := e.adminClient.Approve(bg, approved, "on-call handover, ticket OPS-12"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.adminClient.Deny(bg, denied, "too broad: ask per team"); err != nil {
		t.Fatal(err)
	}

	do(t, ctx, "sign in", chromedp.Navigate(e.link(e.admin)), chromedp.WaitVisible(chromedp.CSS("#count-total")))
	do(t, ctx, "keyboard", chromedp.KeyEvent("\t"))
	if got := run(t, ctx, "first focus", chromedp.Evaluate[string](`document.activeElement.className`)); got != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	agentURL := e.url + "/console/agent?did=" + url.QueryEscape(agents[3].key.DID)
	pages := []struct{ name, url, ready string }{
		{"overview", e.url + "/console/", "#count-total"},
		{"agents", e.url + "/console/agents", "#agents"},
		{"agent", agentURL, "#agent-status"},
		{"confirm", e.url + "/console/agent/confirm?action=revoke&did=" + url.QueryEscape(agents[0].key.DID) + "&credential=" + url.QueryEscape(agents[0].issued.ID), "#confirm"},
		{"principals", e.url + "/console/principals", "#principals"},
		{"removeprincipal", e.url + "/console/principals/confirm?did=" + url.QueryEscape(ops.DID), "#confirm"},
		{"keys", e.url + "/console/keys", "#keys"},
		{"audit", e.url + "/console/audit?check=1&decision=deny", "#chain"},
		{"tree", e.url + "/console/agent?did=" + url.QueryEscape(f.child.key.DID), "#descendants"},
		{"task", e.url + "/console/task?id=nightly-close-2026-12", "#task-tree"},
		{"approvals", e.url + "/console/approvals", "#pending"},
		{"approval", e.url + "/console/approval?id=" + url.QueryEscape(pending), "#approve"},
		{"confirm-tree", e.url + "/console/agent/confirm?action=revoke&did=" + url.QueryEscape(f.root.key.DID) + "&credential=" + url.QueryEscape(f.root.issued.ID), "#descendants-stop"},
	}
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		vp := chromedp.EmulateViewport(size.width, size.height)
		if size.mobile {
			vp = chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2))
		}
		do(t, ctx, "viewport", vp)
		for _, p := range pages {
			do(t, ctx, p.name, chromedp.Navigate(p.url), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			for _, problem := range run(t, ctx, "a11y "+p.name, chromedp.Evaluate[[]string](a11yCheck)) {
				t.Errorf("%s (%s): %s", p.name, size.name, problem)
			}
			if shots != "" && p.name != "removeprincipal" && (size.name == "desktop" || p.name == "overview" || p.name == "agent" || p.name == "approval") {
				buf := run(t, ctx, "screenshot", chromedp.FullScreenshot(100))
				if err := os.WriteFile(filepath.Join(shots, p.name+"-"+size.name+".png"), buf, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	l.clean(t, "pages")

	// The collector catches what it should: a console error, an
	// exception, and an inline script, which the CSP blocks (it never
	// runs: no dialog opens).
	run(t, ctx, "probe", chromedp.Evaluate[bool](`(() => {
	  console.error('probe-error');
	  setTimeout(() => { throw new Error('probe-exception'); });
	  const s = document.createElement('script'); s.textContent = 'alert("inline ran")'; document.body.appendChild(s);
	  return true })()`))
	do(t, ctx, "let the probe's timer fire", chromedp.Sleep(300*time.Millisecond))
	entries, dialogs := l.take()
	all := strings.Join(entries, "\n")
	for _, want := range []string{"probe-error", "probe-exception", "Content Security Policy"} {
		if !strings.Contains(all, want) {
			t.Errorf("the browser log collector missed %q; it got:\n%s", want, all)
		}
	}
	if len(dialogs) != 0 {
		t.Errorf("an inline script ran despite the CSP: %q", dialogs)
	}
	// And the contrast check catches faint text.
	problems := run(t, ctx, "faint text", chromedp.Evaluate[[]string](`(() => {
	  const p = document.createElement('p'); p.textContent = 'faint'; p.style.color = '#cccccc';
	  document.querySelector('main').appendChild(p); return true })() && `+a11yCheck))
	if !strings.Contains(strings.Join(problems, "\n"), `contrast 1.61 for "faint"`) {
		t.Errorf("the contrast check missed faint text: %q", problems)
	}
}
