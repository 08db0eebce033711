package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/verifier"
)

// TestBrowserApprovals: an admin's approvals page shows a request as it
// arrives (over the approvals feed), a deny without a reason is not sent,
// and approving in the browser hands the requester its credential.
func TestBrowserApprovals(t *testing.T) {
	l := &pageLog{}
	ctx := newBrowser(t, l)
	e := newEnv(t)
	req := e.addPrincipal("room-booker", "orchestrator", false)

	do(t, ctx, "sign in", chromedp.Navigate(e.link(e.admin)), chromedp.WaitVisible(chromedp.CSS("#count-total")))
	do(t, ctx, "approvals", chromedp.Navigate(e.url+"/console/approvals"), chromedp.WaitVisible(chromedp.CSS("#no-pending")),
		chromedp.Sleep(300*time.Millisecond)) // the feed connects
	// A request arrives while the page is open: it appears by itself.
	agent, id := e.ask(req, "book the on-call room", "job-7")
	waitFor(t, ctx, "the new request on the open approvals page",
		`document.readyState === 'complete' && document.querySelectorAll('#pending tbody tr').length === 1`)
	if got := run(t, ctx, "row", chromedp.Evaluate[string](`document.querySelector('#pending tbody tr').dataset.approval`)); got != id {
		t.Fatalf("the pending row is %q, want %q", got, id)
	}
	if got := text(t, ctx, "#pending td.scopes"); !strings.Contains(got, "calendar:write needs approval") || strings.Contains(got, "calendar:read needs") {
		t.Fatalf("scopes shown as %q", got)
	}
	l.clean(t, "the approvals page")

	// The requester waits for the decision.
	got := make(chan *api.Approval, 1)
	go func() {
		a, err := client.New(e.url, req).Approval(context.Background(), id, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()

	do(t, ctx, "open the request", chromedp.Click(chromedp.CSS("#pending a.open")), chromedp.WaitVisible(chromedp.CSS("#approve")))
	// Deny without a reason: the browser does not send it (the field is
	// required; the server refuses it too, see TestApprovalsConsole).
	do(t, ctx, "deny without a reason", chromedp.Click(chromedp.CSS("#deny")), chromedp.Sleep(300*time.Millisecond))
	if !run(t, ctx, "reason required", chromedp.Evaluate[bool](`document.querySelector('#reason').validity.valueMissing && !!document.querySelector('#approve') && location.search.indexOf('done=') < 0`)) {
		t.Fatal("a deny without a reason left the page")
	}
	if st := e.approvalStatus(id); st != "pending" {
		t.Fatalf("after a deny without a reason the request is %s", st)
	}
	clicked := time.Now()
	do(t, ctx, "approve", chromedp.SendKeys(chromedp.CSS("#reason"), "on-call handover, ticket OPS-12"),
		chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#done")))
	var a *api.Approval
	select {
	case a = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the requester did not hear of the approval within 5 s")
	}
	t.Logf("the requester received its credential %v after the click", time.Since(clicked))
	if a == nil || a.Status != "approved" || a.Issued == nil || a.Reason != "on-call handover, ticket OPS-12" || a.DecidedBy != e.admin.DID {
		t.Fatalf("the requester got %+v", a)
	}
	if res := e.verify(agent, a.Issued.Credential); !res.Valid {
		t.Fatalf("the approved credential: %+v", res.Error)
	}
	if got := text(t, ctx, "#approval-status"); got != "approved" {
		t.Fatalf("status on the page: %q", got)
	}
	if got := text(t, ctx, "#approval-reason"); got != "on-call handover, ticket OPS-12" {
		t.Fatalf("reason on the page: %q", got)
	}
	l.clean(t, "after approving")
}

// TestBrowserDelegation: the agent page shows a three-level tree;
// revoking the root's credential in the console, whose confirmation names
// the descendants that stop, makes a subscribed verifier refuse the
// grandchild within a second.
func TestBrowserDelegation(t *testing.T) {
	l := &pageLog{}
	ctx := newBrowser(t, l)
	e := newEnv(t)
	f := e.family(e.admin, "job-9")

	vctx, stopV := context.WithCancel(context.Background())
	defer stopV()
	v, err := verifier.ForIssuers(vctx, verifier.TrustConfig{Issuers: []string{e.app.Issuer.DID()}, AllowHTTPLocalhost: true,
		StatusEvents: []string{e.url + "/v1/status/events"}}, verifier.WithAudience("https://calendar.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	grandchild := func() error {
		vp, err := f.grandchild.key.Present(client.PresentOptions{Credential: f.grandchild.issued.Credential, Audience: "https://calendar.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), vp, verifier.Request{Scopes: []string{"calendar:read"}})
		return err
	}
	if err := grandchild(); err != nil {
		t.Fatalf("the grandchild before the revocation: %v", err)
	}

	do(t, ctx, "sign in", chromedp.Navigate(e.link(e.admin)), chromedp.WaitVisible(chromedp.CSS("#count-total")))
	do(t, ctx, "the grandchild's page", chromedp.Navigate(e.url+"/console/agent?did="+url.QueryEscape(f.grandchild.key.DID)),
		chromedp.WaitVisible(chromedp.CSS("#ancestors")))
	chain := run(t, ctx, "chain", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#ancestors a.did')].map(a => a.textContent)`))
	if len(chain) != 2 || chain[0] != f.root.key.DID || chain[1] != f.child.key.DID {
		t.Fatalf("the grandchild's chain: %q", chain)
	}
	do(t, ctx, "up to the root", chromedp.Click(chromedp.CSS("#ancestors li:nth-child(2) a.did")), chromedp.WaitVisible(chromedp.CSS("#descendants")))
	states := run(t, ctx, "tree", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#descendants [data-agent]')].map(s => s.textContent)`))
	if len(states) != 4 || strings.Join(states, " ") != "active active active active" {
		t.Fatalf("the root's tree: %q", states)
	}
	do(t, ctx, "revoke's confirmation", chromedp.Click(chromedp.CSS("#credentials a.button.danger")), chromedp.WaitVisible(chromedp.CSS("#descendants-stop")))
	if got := text(t, ctx, "#descendants-stop"); !strings.Contains(got, "3 descendant(s) still in service stop for good") {
		t.Fatalf("the confirmation says %q", got)
	}
	l.clean(t, "before the revocation")

	clicked := time.Now()
	do(t, ctx, "revoke", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#done")))
	seen := awaitRevoked(t, clicked, "the grandchild", grandchild)
	if seen > time.Second {
		t.Errorf("the subscribed verifier refused the grandchild %v after the click, over 1 s", seen)
	}
	t.Logf("subscribed verifier refused the grandchild %v after the click (page load included)", seen)
	waitFor(t, ctx, "the tree to show every descendant revoked",
		`[...document.querySelectorAll('#descendants [data-agent]')].map(s => s.textContent).join(' ') === 'revoked revoked revoked revoked'`)
	do(t, ctx, "the grandchild's page", chromedp.Navigate(e.url+"/console/agent?did="+url.QueryEscape(f.grandchild.key.DID)),
		chromedp.WaitVisible(chromedp.CSS("#ancestor-stop")))
	if got := text(t, ctx, "#ancestor-stop"); !strings.Contains(got, "revoked because its ancestor "+f.root.key.DID) {
		t.Fatalf("the grandchild's page says %q", got)
	}
	l.clean(t, "after the revocation")
}
