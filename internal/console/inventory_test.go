package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var agentLinkRE = regexp.MustCompile(`<a class="did" href="/console/agent\?did=[^"]+">(did:key:[^<]+)</a>`)

// agentsOn returns the agents an inventory page lists, and its next-page
// query ("" when there is none).
func agentsOn(t *testing.T, p response) ([]string, string) {
	t.Helper()
	if p.status != http.StatusOK {
		t.Fatalf("inventory: %d %q", p.status, p.code())
	}
	var out []string
	for _, m := range agentLinkRE.FindAllStringSubmatch(p.body, -1) {
		out = append(out, m[1])
	}
	next := ""
	if m := regexp.MustCompile(`href="/console/agents\?([^"]+)" rel="next"`).FindStringSubmatch(p.body); m != nil {
		next = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return out, next
}

func TestInventoryFiltersAndPages(t *testing.T) {
	e := newEnv(t)
	orch := e.addOrchestrator("orch")
	want := map[string]map[string]bool{"all": {}, "team-a": {}, "write": {}, "orch": {}, "revoked": {}}
	for i := range 53 {
		owner := "team-b"
		if i%3 == 0 {
			owner = "team-a"
		}
		k, _ := e.issue(e.admin, owner, "job")
		want["all"][k.DID] = true
		if owner == "team-a" {
			want["team-a"][k.DID] = true
		}
	}
	w, _ := e.issueScopes(orch, "team-c", "writer", "calendar:read", "calendar:write")
	want["all"][w.DID], want["write"][w.DID], want["orch"][w.DID] = true, true, true
	r, rIssued := e.issue(orch, "team-c", "to revoke")
	want["all"][r.DID], want["orch"][r.DID], want["revoked"][r.DID] = true, true, true
	if _, err := e.adminClient.Revoke(context.Background(), rIssued.ID); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn(e.admin)

	// Every agent once, over two pages, in DID order.
	first, next := agentsOn(t, b.get("/console/agents"))
	if len(first) != 50 || next == "" {
		t.Fatalf("first page: %d agents, next %q", len(first), next)
	}
	second, next2 := agentsOn(t, b.get("/console/agents?"+next))
	if len(second) != 5 || next2 != "" {
		t.Fatalf("second page: %d agents, next %q", len(second), next2)
	}
	seen := map[string]bool{}
	for i, d := range append(first, second...) {
		if seen[d] || !want["all"][d] || (i > 0 && d <= append(first, second...)[i-1]) {
			t.Fatalf("agent %d %s: repeated, unknown or out of order", i, d)
		}
		seen[d] = true
	}

	for _, c := range []struct {
		query string
		want  map[string]bool
	}{
		{"owner=team-a", want["team-a"]},
		{"owner=TEAM-A", want["team-a"]},
		{"scope=calendar:write", want["write"]},
		{"creator=" + url.QueryEscape(orch.DID), want["orch"]},
		{"status=revoked", want["revoked"]},
		{"q=" + url.QueryEscape(w.DID[len(w.DID)-12:]), want["write"]},
		{"owner=team-c&status=active", want["write"]},
		{"owner=nobody", map[string]bool{}},
	} {
		var got []string
		q := c.query
		for {
			page, next := agentsOn(t, b.get("/console/agents?"+q))
			got = append(got, page...)
			if next == "" {
				break
			}
			q = next
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d agents, want %d", c.query, len(got), len(c.want))
		}
		for _, d := range got {
			if !c.want[d] {
				t.Fatalf("%s: unexpected %s", c.query, d)
			}
		}
	}
	if p := b.get("/console/agents?status=bogus"); p.status != http.StatusBadRequest {
		t.Fatalf("unknown status: %d", p.status)
	}

	// The overview counts them, and charts the issuances.
	ov := b.get("/console/")
	for id, n := range map[string]string{"count-total": "55", "count-active": "54", "count-revoked": "1"} {
		if !strings.Contains(ov.body, `id="`+id+`">`+n+`<`) {
			t.Errorf("overview %s is not %s", id, n)
		}
	}
	if !strings.Contains(ov.body, "Issuances and refreshes per minute — <strong>55</strong> in all") {
		t.Error("the issuance chart does not count 55")
	}
}
