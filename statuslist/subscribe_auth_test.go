package statuslist

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// EventsAuth authenticates every request for the change feed, and its
// failure fails the attempt before any request is sent.
func TestSubscribeEventsAuth(t *testing.T) {
	var got atomic.Value
	var requests atomic.Int64
	_, base := localServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		got.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(": subscribed\n\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fail := atomic.Bool{}
	c, err := NewChecker(CheckerOptions{Keys: newFakeKeys(), EventsAuth: func(_ context.Context, req *http.Request) error {
		if fail.Load() {
			return errors.New("no key")
		}
		req.Header.Set("Authorization", "VP token-for-"+req.Method+"-"+req.URL.Path)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{}, 4)
	c.onConnect = func(string) { connected <- struct{}{} }
	if err := c.Subscribe(ctx, base+"/v1/status/events"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no stream")
	}
	if h, _ := got.Load().(string); h != "VP token-for-GET-/v1/status/events" {
		t.Fatalf("Authorization = %q", h)
	}

	fail.Store(true)
	c2, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(), EventsAuth: func(context.Context, *http.Request) error { return errors.New("no key") }})
	n := requests.Load()
	connected2, err := c2.stream(ctx, c2.client, base+"/v1/status/events", originOf(base))
	if connected2 || err == nil || requests.Load() != n {
		t.Fatalf("failed auth: connected %v, err %v, %d requests sent", connected2, err, requests.Load()-n)
	}
}
