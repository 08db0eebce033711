package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// TestLongRequestsOutliveTimeout: a long poll of an approval and the
// approval feed last longer than the HTTP client's overall timeout (30 s
// by default; 100 ms here), which bounds ordinary calls only. Before,
// `agentid approval watch ID` failed 30 s into its 50 s long poll and
// `agentid approval watch` dropped the feed after 30 s.
func TestLongRequestsOutliveTimeout(t *testing.T) {
	const hold = 400 * time.Millisecond
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/approvals/events":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			time.Sleep(hold)
			fmt.Fprint(w, "event: approved\ndata: {\"id\":\"urn:uuid:1\",\"status\":\"approved\"}\n\n")
		default:
			time.Sleep(hold)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"urn:uuid:1","status":"approved"}`)
		}
	}))
	defer hs.Close()
	key, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(hs.URL, key, client.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))
	ctx := context.Background()

	// An ordinary call is still bounded by the timeout.
	if _, err := cl.Approval(ctx, "urn:uuid:1", 0); err == nil {
		t.Fatal("a call slower than the client's timeout succeeded")
	}
	a, err := cl.WaitApproval(ctx, "urn:uuid:1")
	if err != nil || a.Status != api.ApprovalApproved {
		t.Fatalf("WaitApproval held past the client's timeout: %v, %+v", err, a)
	}
	if a, err = cl.Approval(ctx, "urn:uuid:1", time.Second); err != nil || a.Status != api.ApprovalApproved {
		t.Fatalf("Approval with wait past the client's timeout: %v, %+v", err, a)
	}
	var got []string
	err = cl.ApprovalEvents(ctx, func(ev string, a *api.Approval) error {
		got = append(got, ev+" "+a.ID)
		return nil
	})
	if err != nil || len(got) != 1 || got[0] != "approved urn:uuid:1" {
		t.Fatalf("approval feed past the client's timeout: %v, %q", err, got)
	}
}
