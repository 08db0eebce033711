package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
)

// TestAuditTailPages: AuditTail follows the server's pages (oldest first,
// at most 10,000 each) to the end and keeps the latest n.
func TestAuditTailPages(t *testing.T) {
	const total = 25_003
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit == 0 || limit > 10_000 {
			limit = 1000
		}
		out := api.EventList{Events: []audit.Event{}}
		for s := after + 1; s <= total && len(out.Events) < limit; s++ {
			out.Events = append(out.Events, audit.Event{Seq: s, Action: audit.ActionVerify})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer hs.Close()
	key, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := client.New(hs.URL, key).AuditTail(context.Background(), client.AuditFilter{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 || evs[0].Seq != total-4 || evs[4].Seq != total {
		t.Fatalf("AuditTail(5) of %d events: %+v", total, evs)
	}
}
