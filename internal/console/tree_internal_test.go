package console

import (
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/issuer"
)

func TestForest(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ag := func(did, parent, status string, at int) issuer.Agent {
		return issuer.Agent{DID: did, Parent: parent, Status: status, CreatedAt: t0.Add(time.Duration(at) * time.Minute)}
	}
	// draw writes a forest as "did(children…)" in order.
	var draw func(ns []*treeNode) string
	draw = func(ns []*treeNode) string {
		var parts []string
		for _, n := range ns {
			s := n.DID
			if len(n.Children) > 0 {
				s += "(" + draw(n.Children) + ")"
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		name      string
		agents    []issuer.Agent
		want      string
		all, live int // under the first root
	}{
		{"empty", nil, "", 0, 0},
		{"one", []issuer.Agent{ag("a", "", "active", 0)}, "a", 0, 0},
		{"three levels, children by creation time", []issuer.Agent{
			ag("c2", "a", "active", 3), ag("a", "", "active", 0), ag("g", "c1", "revoked", 4), ag("c1", "a", "suspended", 1),
		}, "a(c1(g) c2)", 3, 2},
		{"parent not visible: the child is a root", []issuer.Agent{ag("b", "", "active", 0), ag("x", "hidden", "active", 1)}, "b x", 0, 0},
		{"retired and revoked descendants are not live", []issuer.Agent{
			ag("a", "", "active", 0), ag("r", "a", "retired", 1), ag("v", "a", "revoked", 2), ag("s", "a", "suspended", 3),
		}, "a(r v s)", 3, 1},
		{"an agent naming itself as parent is a root", []issuer.Agent{ag("a", "a", "active", 0)}, "a", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roots, byDID := forest(tc.agents)
			if got := draw(roots); got != tc.want {
				t.Fatalf("forest %q, want %q", got, tc.want)
			}
			if len(byDID) != len(tc.agents) {
				t.Fatalf("%d nodes for %d agents", len(byDID), len(tc.agents))
			}
			if len(roots) > 0 {
				if all, live := roots[0].count(); all != tc.all || live != tc.live {
					t.Fatalf("count %d/%d, want %d/%d", all, live, tc.all, tc.live)
				}
			}
		})
	}
}

func TestAge(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {59 * time.Second, "59s"}, {time.Minute, "1m"}, {59*time.Minute + 59*time.Second, "59m"},
		{time.Hour, "1h0m"}, {2*time.Hour + 5*time.Minute, "2h5m"}, {47 * time.Hour, "47h0m"}, {48 * time.Hour, "2d"}, {100 * time.Hour, "4d"},
	} {
		if got := age(tc.d); got != tc.want {
			t.Errorf("age(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
