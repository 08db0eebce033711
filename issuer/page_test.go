package issuer

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/agentid/agentid/store"
)

// putAgents writes n agent records straight into the store (as issuance
// would leave them, without credentials), every third one the
// orchestrator's, and returns their DIDs in key order.
func (e *env) putAgents(tb testing.TB, n int) []string {
	tb.Helper()
	dids := make([]string, n)
	for start := 0; start < n; start += 1000 {
		err := e.is.db.Update(context.Background(), func(tx store.Tx) error {
			for i := start; i < min(start+1000, n); i++ {
				by := e.adminP.DID
				if i%3 == 0 {
					by = e.orchP.DID
				}
				r := &agentRecord{DID: fmt.Sprintf("did:key:z6Mk%08d", i), Owner: "team-a", Purpose: "page test",
					Scopes: []string{"calendar:read"}, Audiences: []string{"https://calendar.example.com"},
					TTL: duration(15 * time.Minute), CreatedBy: by, CreatedAt: t0, RegistrationExpires: t0.Add(24 * time.Hour)}
				if err := putJSON(tx, bucketAgents, r.DID, r); err != nil {
					return err
				}
				dids[i] = r.DID
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return dids
}

// pageAll lists every page and checks each is within limit.
func (e *env) pageAll(tb testing.TB, actor *Principal, limit, want int) (got []string, pages int) {
	tb.Helper()
	cursor := ""
	for {
		page, next, err := e.is.AgentPage(context.Background(), actor, AgentFilter{}, cursor, limit)
		if err != nil {
			tb.Fatal(err)
		}
		pages++
		if len(page) > want {
			tb.Fatalf("page of %d agents; the bound is %d", len(page), want)
		}
		for _, a := range page {
			got = append(got, a.DID)
		}
		if next == "" {
			return got, pages
		}
		if next != page[len(page)-1].DID {
			tb.Fatalf("next = %q; want the last DID of the page %q", next, page[len(page)-1].DID)
		}
		cursor = next
	}
}

func TestAgentPage(t *testing.T) {
	e := newEnv(t)
	e.dbOpts.NoSync = true
	all := e.putAgents(t, 2500)

	got, pages := e.pageAll(t, e.adminP, 0, DefaultAgentPage)
	if len(got) != len(all) || pages != 5 {
		t.Fatalf("admin: %d agents in %d pages; want %d in 5", len(got), pages, len(all))
	}
	for i := range got {
		if got[i] != all[i] {
			t.Fatalf("agent %d = %s; want %s (each once, in key order)", i, got[i], all[i])
		}
	}
	// An orchestrator pages through its own agents only.
	got, _ = e.pageAll(t, e.orchP, 100, 100)
	if len(got) != (len(all)+2)/3 {
		t.Fatalf("orchestrator: %d agents; want %d", len(got), (len(all)+2)/3)
	}
	// The limit is capped; an exact last page has no next.
	page, next, err := e.is.AgentPage(context.Background(), e.adminP, AgentFilter{}, "", 1_000_000)
	if err != nil || len(page) != len(all) || next != "" {
		t.Fatalf("limit over the cap: %d agents, next %q, %v", len(page), next, err)
	}
	page, next, err = e.is.AgentPage(context.Background(), e.adminP, AgentFilter{}, all[len(all)-6], 5)
	if err != nil || len(page) != 5 || next != "" {
		t.Fatalf("last page of exactly 5: %d agents, next %q, %v", len(page), next, err)
	}
}

// TestAgentPageMemory: listing 20,000 agents page by page holds one page,
// not the inventory. The retained heap (after a GC, while holding the
// result) is measured for Agents (everything) and for the largest page.
func TestAgentPageMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 agents")
	}
	e := newEnv(t)
	e.dbOpts.NoSync = true
	const n = 20_000
	e.putAgents(t, n)
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // the second frees what sync.Pools kept through the first
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}

	base := heap()
	var peak uint64
	cursor, seen := "", 0
	for {
		page, next, err := e.is.AgentPage(ctx, e.adminP, AgentFilter{}, cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page)
		if h := heap(); h > base && h-base > peak {
			peak = h - base
		}
		runtime.KeepAlive(page)
		if next == "" {
			break
		}
		cursor = next
	}
	if seen != n {
		t.Fatalf("paged through %d agents; want %d", seen, n)
	}

	base = heap()
	everything, err := e.is.Agents(ctx, e.adminP, AgentFilter{})
	if err != nil || len(everything) != n {
		t.Fatalf("Agents: %d, %v", len(everything), err)
	}
	full := heap() - base
	runtime.KeepAlive(everything)

	t.Logf("%d agents: retained heap %d KiB listing all at once, at most %d KiB per page of %d", n, full>>10, peak>>10, DefaultAgentPage)
	if peak*10 > full {
		t.Fatalf("a page retains %d bytes, a tenth or more of the %d of the whole inventory: memory is not bounded by the page", peak, full)
	}
}
