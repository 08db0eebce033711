package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
)

// TestTreeParentLoop: an inventory whose parent links loop (the server
// never records one; a damaged or forged answer could) is printed with
// every agent once and ends. Before, the agents of a loop were hidden
// from 'agent tree', and 'agent tree --root' on one of them recursed
// until the stack overflowed.
func TestTreeParentLoop(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	agent := func(did, parent string, i int) api.Agent {
		return api.Agent{DID: did, Parent: parent, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	all := []api.Agent{
		agent("did:key:zA", "did:key:zB", 1), // A and B are each other's parent
		agent("did:key:zB", "did:key:zA", 2),
		agent("did:key:zC", "did:key:zA", 3), // a child of the loop
		agent("did:key:zD", "did:key:zD", 4), // its own parent
		agent("did:key:zE", "", 5),           // an ordinary tree: E, then F
		agent("did:key:zF", "did:key:zE", 6),
	}
	for _, tc := range []struct {
		root string
		want []string // DIDs in print order
	}{
		{"", []string{"zA", "zC", "zB", "zD", "zE", "zF"}},
		{"did:key:zA", []string{"zA", "zC"}},
		{"did:key:zB", []string{"zB"}},
		{"did:key:zD", []string{"zD"}},
	} {
		var out bytes.Buffer
		if err := printTree(&out, all, tc.root, "", false); err != nil {
			t.Fatalf("root %q: %v", tc.root, err)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			i := strings.Index(l, "did:key:")
			got = append(got, strings.Fields(l[i+len("did:key:"):])[0])
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Fatalf("root %q: printed %v, want %v:\n%s", tc.root, got, tc.want, out.String())
		}
		out.Reset()
		if err := printTree(&out, all, tc.root, "", true); err != nil {
			t.Fatalf("root %q, --json: %v", tc.root, err)
		}
		var nodes []treeNode
		if err := json.Unmarshal(out.Bytes(), &nodes); err != nil {
			t.Fatalf("root %q, --json: %v", tc.root, err)
		}
	}
}
