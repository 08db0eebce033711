package console_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// addPrincipal registers a principal of role with a calendar ceiling
// whose calendar:write grants wait for approval.
func (e *env) addPrincipal(name, role string, approver bool) *client.Key {
	e.t.Helper()
	k := newKey(e.t)
	if _, err := e.adminClient.AddPrincipal(context.Background(), api.Principal{DID: k.DID, Role: api.Role(role), Name: name,
		Ceiling: []string{"calendar:*"}, NeedApproval: []string{"calendar:write"}, Approver: approver}); err != nil {
		e.t.Fatal(err)
	}
	return k
}

// ask requests, as the principal of by, an agent with calendar:write,
// which waits for approval, and returns the agent's key and the approval
// id.
func (e *env) ask(by *client.Key, purpose, task string) (*client.Key, string) {
	e.t.Helper()
	cl := client.New(e.url, by)
	k := newKey(e.t)
	proof, err := cl.Proof(context.Background(), k)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := cl.Issue(context.Background(), api.IssueRequest{Agent: k.DID, Proof: proof, Scopes: []string{"calendar:read", "calendar:write"},
		Audiences: []string{"https://calendar.example.com"}, Owner: "team-rooms", Purpose: purpose, Task: task})
	if err != nil {
		e.t.Fatal(err)
	}
	if out.Approval == "" || out.Credential != "" {
		e.t.Fatalf("the request did not wait for approval: %+v", out)
	}
	return k, out.Approval
}

func approvalPath(id string) string { return "/console/approval?id=" + url.QueryEscape(id) }

// status reads an approval's status through the API, as an admin.
func (e *env) approvalStatus(id string) string {
	e.t.Helper()
	a, err := e.adminClient.Approval(context.Background(), id, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return a.Status
}

// TestApprovalsConsole: the approvals page lists pending requests with
// the scopes that need approval; an admin approves one in the console
// with a reason and the requester receives its credential, carrying the
// approval; every refusal has its exact code and changes nothing.
func TestApprovalsConsole(t *testing.T) {
	e := newEnv(t)
	req := e.addPrincipal("room-booker", "orchestrator", true) // may approve others', never its own
	stranger := e.addPrincipal("stranger", "orchestrator", false)
	approver := e.addPrincipal("duty-approver", "approver", false)
	const purpose = `<img src=x onerror="alert('purpose')">`
	const task = `<script>alert("task")</script>`
	agent, id := e.ask(req, purpose, task)
	_, id2 := e.ask(req, "second", "")

	admin := e.browser()
	admin.signIn(e.admin)
	csrf := admin.csrf()
	p := admin.get("/console/approvals")
	if p.status != http.StatusOK || !strings.Contains(p.body, `data-approval="`+id+`"`) ||
		!strings.Contains(p.body, `calendar:write <span class="tag">needs approval</span>`) ||
		strings.Contains(p.body, `calendar:read <span class="tag">needs approval</span>`) ||
		!strings.Contains(p.body, `id="pending-count">2<`) || !strings.Contains(p.body, `data-feed="/console/approvals/events"`) ||
		!strings.Contains(p.body, `<span class="did">`+req.DID+`</span> <span class="tag name">room-booker</span>`) {
		t.Fatalf("approvals page: %d %q", p.status, p.body)
	}
	if strings.Contains(p.body, purpose) || strings.Contains(p.body, task) {
		t.Fatal("HTML in a purpose or task reached the approvals page unescaped")
	}
	if p := admin.get("/console/"); !strings.Contains(p.body, `<strong>2</strong> approval request(s) wait`) {
		t.Fatalf("the overview does not say that 2 requests wait: %q", p.body)
	}

	post := func(b *browser, id, decision, reason string, hdr map[string]string, tok string) response {
		t.Helper()
		return b.post("/console/approval/decide", url.Values{"csrf": {tok}, "id": {id}, "decision": {decision}, "reason": {reason}}, hdr)
	}
	// Without a reason: refused, still pending.
	for _, reason := range []string{"", "   "} {
		if r := post(admin, id, "approve", reason, nil, csrf); r.status != http.StatusBadRequest || r.code() != "invalid_request" {
			t.Fatalf("approve with reason %q: %d %s", reason, r.status, r.code())
		}
	}
	// A cross-site post, with the right token: refused, still pending.
	if r := post(admin, id, "approve", "ok", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, csrf); r.status != http.StatusForbidden || r.code() != "cross_site" {
		t.Fatalf("cross-site approve: %d %s", r.status, r.code())
	}
	// Without the token: refused.
	if r := post(admin, id, "approve", "ok", nil, ""); r.status != http.StatusForbidden || r.code() != "csrf" {
		t.Fatalf("approve without a token: %d %s", r.status, r.code())
	}
	if st := e.approvalStatus(id); st != "pending" {
		t.Fatalf("after refused posts the request is %s", st)
	}

	// The requester, an approver of others' requests, may not decide its
	// own: no form on its page, and a forged post is refused by the
	// issuer.
	rb := e.browser()
	rb.signIn(req)
	if p := rb.get(approvalPath(id)); p.status != http.StatusOK || !strings.Contains(p.body, `id="not-yours"`) || strings.Contains(p.body, `id="approve"`) {
		t.Fatalf("the requester's view of its request: %d %q", p.status, p.body)
	}
	if r := post(rb, id, "approve", "looks fine to me", nil, rb.csrf()); r.status != http.StatusForbidden || r.code() != "approval_self" ||
		!strings.Contains(r.body, `data-code="approval_self"`) {
		t.Fatalf("approving one's own request: %d %s", r.status, r.code())
	}
	if st := e.approvalStatus(id); st != "pending" {
		t.Fatalf("after self-approval the request is %s", st)
	}

	// Another orchestrator: not its request, by URL or in the list.
	sb := e.browser()
	sb.signIn(stranger)
	if p := sb.get(approvalPath(id)); p.status != http.StatusNotFound || p.code() != "unknown_approval" {
		t.Fatalf("another's approval by URL: %d %s", p.status, p.code())
	}
	if p := sb.get("/console/approvals"); p.status != http.StatusOK || strings.Contains(p.body, id) || !strings.Contains(p.body, `id="no-pending"`) ||
		strings.Contains(p.body, "data-feed") {
		t.Fatalf("another's approvals page: %d %q", p.status, p.body)
	}
	if p := sb.get("/console/approvals/events"); p.status != http.StatusForbidden || p.code() != "forbidden" {
		t.Fatalf("an orchestrator's approvals feed: %d %s", p.status, p.code())
	}
	if r := post(sb, id, "deny", "not mine but no", nil, sb.csrf()); r.status != http.StatusForbidden || r.code() != "forbidden" {
		t.Fatalf("an orchestrator that is no approver denies: %d %s", r.status, r.code())
	}

	// The requester long-polls; the admin approves in the console.
	got := make(chan *api.Approval, 1)
	go func() {
		a, err := client.New(e.url, req).Approval(context.Background(), id, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	time.Sleep(100 * time.Millisecond)
	if r := post(admin, id, "approve", "change CHG-7 <b>ok</b>", nil, csrf); r.status != http.StatusSeeOther ||
		r.header.Get("Location") != approvalPath(id)+"&done=approve" {
		t.Fatalf("approve: %d %s %q", r.status, r.code(), r.header.Get("Location"))
	}
	a := <-got
	if a == nil || a.Status != "approved" || a.Issued == nil || a.Issued.Credential == "" || a.DecidedBy != e.admin.DID {
		t.Fatalf("the requester's view after the approval: %+v", a)
	}
	if res := e.verify(agent, a.Issued.Credential); !res.Valid {
		t.Fatalf("the approved credential does not verify: %+v", res.Error)
	}
	p = admin.get(approvalPath(id) + "&done=approve")
	if !strings.Contains(p.body, `id="approval-status">approved<`) || !strings.Contains(p.body, `change CHG-7 &lt;b&gt;ok&lt;/b&gt;`) ||
		strings.Contains(p.body, a.Issued.Credential) || strings.Contains(p.body, `id="approve"`) {
		t.Fatalf("the approved request's page: %q", p.body)
	}
	// Approving twice, or denying after: the request is decided.
	if r := post(admin, id, "approve", "again", nil, csrf); r.status != http.StatusConflict || r.code() != "approval_decided" {
		t.Fatalf("approving twice: %d %s", r.status, r.code())
	}
	ab := e.browser()
	ab.signIn(approver)
	if r := post(ab, id, "deny", "too late", nil, ab.csrf()); r.status != http.StatusConflict || r.code() != "approval_decided" {
		t.Fatalf("denying an approved request: %d %s", r.status, r.code())
	}

	// The approver denies the second with a reason holding HTML; the
	// page lists it as decided, who, and why, escaped.
	if r := post(ab, id2, "deny", `<script>alert("why")</script>`, nil, ab.csrf()); r.status != http.StatusSeeOther {
		t.Fatalf("deny: %d %s", r.status, r.code())
	}
	p = ab.get("/console/approvals")
	if !strings.Contains(p.body, `id="no-pending"`) || !strings.Contains(p.body, `<td class="reason">&lt;script&gt;alert(&#34;why&#34;)&lt;/script&gt;</td>`) ||
		!strings.Contains(p.body, `<span class="did">`+approver.DID+`</span>`) || strings.Contains(p.body, `<script>alert("why")`) {
		t.Fatalf("decided requests on the approvals page: %q", p.body)
	}
	if r := post(admin, id2, "approve", "deny then approve", nil, csrf); r.status != http.StatusConflict || r.code() != "approval_decided" {
		t.Fatalf("approving a denied request: %d %s", r.status, r.code())
	}

	// Every refusal was audited under the principal that tried.
	evs, err := e.adminClient.Audit(context.Background(), client.AuditFilter{Action: "approval.approve", Decision: "deny"})
	if err != nil {
		t.Fatal(err)
	}
	var self bool
	for _, ev := range evs {
		if ev.Actor == req.DID && ev.Reason == "approval_self" {
			self = true
		}
	}
	if !self {
		t.Fatalf("the self-approval refusal is not in the audit trail: %+v", evs)
	}
}

// TestApprovalsFeed: the console's approvals feed carries a new request
// to a signed-in approver as it arrives.
func TestApprovalsFeed(t *testing.T) {
	e := newEnv(t)
	req := e.addPrincipal("room-booker", "orchestrator", false)
	b := e.browser()
	b.signIn(e.admin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/console/approvals/events", nil)
	hreq.AddCookie(b.cookie)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("feed: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, id := e.ask(req, "book a room", "")
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "data: ") {
			break
		}
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "event: pending\ndata: {\"id\":\""+id+"\",\"status\":\"pending\"}") {
		t.Fatalf("feed said %q", got)
	}
}

// TestApprovalsExpired: a request past its expiry shows expired, offers
// no decision, and a forged approval of it is refused.
func TestApprovalsExpired(t *testing.T) {
	e := newEnv(t)
	req := e.addPrincipal("room-booker", "orchestrator", false)
	_, id := e.ask(req, "book a room", "")
	b := e.browser()
	b.signIn(e.admin)
	e.clock.Advance(16 * time.Minute) // past the default 15 minutes
	p := b.get(approvalPath(id))
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="approval-status">expired<`) || strings.Contains(p.body, `id="approve"`) {
		t.Fatalf("an expired request's page: %d %q", p.status, p.body)
	}
	if p := b.get("/console/approvals"); !strings.Contains(p.body, `id="no-pending"`) || !strings.Contains(p.body, `<span class="badge ap-expired">expired</span>`) {
		t.Fatalf("approvals page with an expired request: %q", p.body)
	}
	r := b.post("/console/approval/decide", url.Values{"csrf": {b.csrf()}, "id": {id}, "decision": {"approve"}, "reason": {"late"}}, nil)
	if r.status != http.StatusConflict || r.code() != "approval_expired" {
		t.Fatalf("approving an expired request: %d %s", r.status, r.code())
	}
	if r := b.post("/console/approval/decide", url.Values{"csrf": {b.csrf()}, "id": {id}, "decision": {"maybe"}, "reason": {"x"}}, nil); r.status != http.StatusBadRequest || r.code() != "invalid_request" {
		t.Fatalf("an unknown decision: %d %s", r.status, r.code())
	}
	if p := b.get(approvalPath("urn:uuid:00000000-0000-4000-8000-000000000000")); p.status != http.StatusNotFound || p.code() != "unknown_approval" {
		t.Fatalf("an unknown approval: %d %s", p.status, p.code())
	}
}

// TestApprovalsFeedEndsWithSession: an open approvals feed stops at
// sign-out, before it carries the next request.
func TestApprovalsFeedEndsWithSession(t *testing.T) {
	e := newEnv(t)
	req := e.addPrincipal("room-booker", "orchestrator", false)
	b := e.browser()
	b.signIn(e.admin)
	cookie := b.cookie
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/console/approvals/events", nil)
	hreq.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("feed: %d", resp.StatusCode)
	}
	if r := b.post("/console/signout", url.Values{"csrf": {b.csrf()}}, nil); r.status != http.StatusSeeOther && r.status != http.StatusOK {
		t.Fatalf("sign out: %d %s", r.status, r.code())
	}
	e.ask(req, "book a room", "")
	body, err := io.ReadAll(resp.Body) // the server ends the stream
	if err != nil {
		t.Fatalf("reading the feed: %v", err)
	}
	if strings.Contains(string(body), "data:") {
		t.Fatalf("the feed carried an event after sign-out: %q", body)
	}
	// And the cookie opens no new feed.
	hreq, _ = http.NewRequest(http.MethodGet, e.url+"/console/approvals/events", nil)
	hreq.AddCookie(cookie)
	resp2, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusUnauthorized || resp2.Header.Get("X-Agentid-Code") != "no_session" {
		t.Fatalf("feed after sign-out: %d %s", resp2.StatusCode, resp2.Header.Get("X-Agentid-Code"))
	}
}

// TestApprovalsConsoleOwnTree: a sub-agent's request is its parent
// agent's, under the tree of the orchestrator that registered the root;
// that orchestrator, though it approves others' requests, may not decide
// it (the issuer refuses it with approval_self). Its console offers no
// decision on the request's page nor "Decide" in the list, and says why;
// an admin's page still offers the form.
func TestApprovalsConsoleOwnTree(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ok := newKey(t)
	if _, err := e.adminClient.AddPrincipal(ctx, api.Principal{DID: ok.DID, Role: "orchestrator", Name: "tree-owner",
		Ceiling: []string{"calendar:*"}, NeedApproval: []string{"calendar:write"}, MaxDepth: 1, Approver: true}); err != nil {
		t.Fatal(err)
	}
	// A root agent with calendar:write, approved by the admin.
	parent, rootID := e.ask(ok, "plan the week", "")
	if _, err := e.adminClient.Approve(ctx, rootID, "root ok"); err != nil {
		t.Fatal(err)
	}
	root, err := client.New(e.url, ok).Approval(ctx, rootID, 0)
	if err != nil || root.Issued == nil {
		t.Fatalf("the root's credential: %+v %v", root, err)
	}
	// Its sub-agent asks for calendar:write: the request waits.
	anon := client.New(e.url, nil)
	child := newKey(t)
	proof, err := anon.ProofFor(ctx, child, parent.DID)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := anon.IssueSubAgent(ctx, parent, root.Issued.Credential, api.IssueRequest{Agent: child.DID, Proof: proof,
		Scopes: []string{"calendar:write"}, Audiences: []string{"https://calendar.example.com"}, Owner: "team-rooms", Purpose: "book"})
	if err != nil || sub.Approval == "" {
		t.Fatalf("the sub-agent's request: %+v %v", sub, err)
	}
	id := sub.Approval

	ob := e.browser()
	ob.signIn(ok)
	p := ob.get(approvalPath(id))
	if p.status != http.StatusOK || strings.Contains(p.body, `id="approve"`) || strings.Contains(p.body, `id="deny"`) ||
		strings.Contains(p.body, `action="/console/approval/decide"`) ||
		!strings.Contains(p.body, `id="not-yours"`) || !strings.Contains(p.body, "your tree") {
		t.Fatalf("the tree owner's view of its sub-agent's request: %d %q", p.status, p.body)
	}
	p = ob.get("/console/approvals")
	if p.status != http.StatusOK || !strings.Contains(p.body, `data-approval="`+id+`"`) {
		t.Fatalf("the tree owner's approvals page: %d %q", p.status, p.body)
	}
	row := p.body[strings.Index(p.body, `data-approval="`+id+`"`):]
	row = row[:strings.Index(row, "</tr>")]
	if strings.Contains(row, ">Decide<") || !strings.Contains(row, "View (your tree)") {
		t.Fatalf("the tree owner's row for its sub-agent's request: %q", row)
	}
	// What the page no longer offers is what the issuer refuses.
	r := ob.post("/console/approval/decide", url.Values{"csrf": {ob.csrf()}, "id": {id}, "decision": {"approve"}, "reason": {"mine"}}, nil)
	if r.status != http.StatusForbidden || r.code() != "approval_self" {
		t.Fatalf("the tree owner approving: %d %s", r.status, r.code())
	}

	admin := e.browser()
	admin.signIn(e.admin)
	if p := admin.get(approvalPath(id)); p.status != http.StatusOK || !strings.Contains(p.body, `id="approve"`) || strings.Contains(p.body, `id="not-yours"`) {
		t.Fatalf("the admin's view of the sub-agent's request: %d %q", p.status, p.body)
	}
	if st := e.approvalStatus(id); st != "pending" {
		t.Fatalf("the request is %s", st)
	}
}
