package publish

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// feedServer serves f with the subscriber named by test headers, as the
// issuer's server does after authenticating a principal.
func feedServer(t *testing.T, f *Feed) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Serve(w, r, Subscriber{Source: r.Header.Get("X-Test-Source"), Principal: r.Header.Get("X-Test-Principal")})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// open subscribes and reports the status; a 200 stream is read up to its
// opening comment and left open until the test ends.
func open(t *testing.T, ctx context.Context, url, source, principal string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("X-Test-Source", source)
	if principal != "" {
		req.Header.Set("X-Test-Principal", principal)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return resp.StatusCode
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("stream opened with %q, %v", line, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp.StatusCode
}

// One source cannot hold more than its share of the feed, and anonymous
// subscribers cannot take the slots kept for authenticated ones.
func TestFeedSlotsPerSourceAndReserved(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := NewFeed(FeedOptions{MaxSubscribers: 12, Reserved: 4, MaxPerSource: 3, MaxPerPrincipal: 2})
	defer f.Close()
	url := feedServer(t, f).URL

	// One source fills its share; the rest of its requests are refused.
	for i := range 3 {
		if st := open(t, ctx, url, "192.0.2.1", ""); st != 200 {
			t.Fatalf("source A stream %d: %d", i, st)
		}
	}
	for range 5 {
		if st := open(t, ctx, url, "192.0.2.1", ""); st != http.StatusServiceUnavailable {
			t.Fatalf("source A beyond its share: %d, want 503", st)
		}
	}
	// A second source still gets slots.
	if st := open(t, ctx, url, "192.0.2.2", ""); st != 200 {
		t.Fatalf("second source: %d", st)
	}
	// Fill the anonymous slots (12 - 4 = 8) from more sources.
	for _, src := range []string{"192.0.2.2", "192.0.2.2", "192.0.2.3", "192.0.2.3"} {
		if st := open(t, ctx, url, src, ""); st != 200 {
			t.Fatalf("source %s: %d", src, st)
		}
	}
	if st := open(t, ctx, url, "192.0.2.4", ""); st != http.StatusServiceUnavailable {
		t.Fatalf("anonymous beyond the anonymous slots: %d, want 503", st)
	}
	// Authenticated subscribers still get the reserved slots, bounded per
	// principal.
	for _, p := range []string{"did:key:z1", "did:key:z1", "did:key:z2", "did:key:z2"} {
		if st := open(t, ctx, url, "192.0.2.1", p); st != 200 {
			t.Fatalf("authenticated %s: %d", p, st)
		}
	}
	if st := open(t, ctx, url, "192.0.2.9", "did:key:z3"); st != http.StatusServiceUnavailable {
		t.Fatalf("beyond every slot: %d, want 503", st)
	}
	if n := f.Subscribers(); n != 12 {
		t.Fatalf("%d subscribers, want 12", n)
	}
}

func TestFeedPerPrincipalBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := NewFeed(FeedOptions{MaxSubscribers: 10, MaxPerPrincipal: 2})
	defer f.Close()
	url := feedServer(t, f).URL
	for range 2 {
		if st := open(t, ctx, url, "192.0.2.1", "did:key:z1"); st != 200 {
			t.Fatal(st)
		}
	}
	if st := open(t, ctx, url, "192.0.2.2", "did:key:z1"); st != http.StatusServiceUnavailable {
		t.Fatalf("principal beyond its bound: %d", st)
	}
	// A slot freed is a slot regained.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for f.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers after the clients left", f.Subscribers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := open(t, context.Background(), url, "192.0.2.2", "did:key:z1"); st != 200 {
		t.Fatalf("after the others left: %d", st)
	}
}

// anonSub subscribes an anonymous test source, or returns nil.
func anonSub(f *Feed) *subscriber {
	s, _ := f.subscribe(Subscriber{Source: "192.0.2.100"})
	return s
}

// Close ends every stream at once with a shutdown event, and refuses new
// subscribers.
func TestFeedCloseEndsStreams(t *testing.T) {
	f := NewFeed(FeedOptions{})
	srv := feedServer(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var bodies []*bufio.Reader
	for i := range 3 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		req.Header.Set("X-Test-Source", "10.0.0."+string(rune('1'+i)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("subscribe: %v %v", resp, err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "retry:") {
			t.Fatalf("stream opened with %q", l)
		}
		bodies = append(bodies, br)
	}
	start := time.Now()
	f.Close()
	for i, br := range bodies {
		rest, err := io.ReadAll(br) // ends only when the stream does
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if !strings.HasSuffix(string(rest), "event: shutdown\ndata: {}\n\n") {
			t.Fatalf("stream %d ended with %q; want a shutdown event", i, rest)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("streams ended %v after Close", d)
	}
	if f.Subscribers() != 0 {
		t.Fatalf("%d subscribers after Close", f.Subscribers())
	}
	if st := open(t, ctx, srv.URL, "10.0.0.9", ""); st != http.StatusServiceUnavailable {
		t.Fatalf("subscribe after Close = %d; want 503", st)
	}
}
