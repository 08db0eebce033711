package statuslist

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SSE client limits.
const (
	// sseIdleTimeout: a stream with no byte, not even a keepalive, for this
	// long is presumed dead and reconnected.
	sseIdleTimeout = 3 * DefaultKeepalive
	// sseMaxLine bounds one line of the stream.
	sseMaxLine = 16 << 10
	minBackoff = 250 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Subscribe follows an issuer's change feed (GET /v1/status/events) in a
// goroutine until ctx ends: each event invalidates the list it names, so the
// next Check refetches it and a revocation is seen within a second instead
// of within CheckerOptions.Revalidate. While the stream is down (or was
// refused: the issuer bounds anonymous subscribers per source), lists of
// its origin are revalidated every Revalidate. Events are trusted only to cause a refetch, never for
// status itself, and only for lists of the feed's own origin. Each time the
// stream (re)connects, every cached list of that origin is invalidated,
// since events may have been missed while disconnected. The stream
// reconnects with jittered exponential backoff, from 250 ms to 30 s.
//
// Subscribe returns an error only when eventsURL is not an allowed URL.
func (c *Checker) Subscribe(ctx context.Context, eventsURL string) error {
	u, err := url.Parse(eventsURL)
	if err != nil || !c.allowed(u) || u.User != nil {
		return fmt.Errorf("statuslist: events URL %q is not an allowed https (or local http) URL", eventsURL)
	}
	// The stream lives for hours: no overall client timeout. A dead
	// stream is caught by the idle timeout instead.
	cl := *c.client
	cl.Timeout = 0
	go c.follow(ctx, &cl, u.String(), originOf(u.String()))
	return nil
}

func (c *Checker) follow(ctx context.Context, cl *http.Client, eventsURL, origin string) {
	backoff := minBackoff
	for ctx.Err() == nil {
		connected, _ := c.stream(ctx, cl, eventsURL, origin)
		if connected {
			backoff = minBackoff
		}
		// Full jitter keeps a fleet of verifiers from reconnecting in step
		// after an issuer restart.
		d := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// stream runs one connection; connected reports whether it got as far as
// an event stream.
func (c *Checker) stream(ctx context.Context, cl *http.Client, eventsURL, origin string) (connected bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, eventsURL, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-store")
	if c.eventsAuth != nil {
		if err := c.eventsAuth(sctx, req); err != nil {
			return false, fmt.Errorf("statuslist: events: authenticate: %w", err)
		}
	}
	// The idle watchdog also bounds the wait for response headers.
	idle := time.AfterFunc(sseIdleTimeout, cancel)
	defer idle.Stop()
	resp, err := cl.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("statuslist: events: HTTP %d", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, errors.New("statuslist: events: not an event stream")
	}
	c.invalidateOrigin(origin)
	// While the stream is up, cached lists of its origin are trusted for
	// their ttl: a change would have arrived as an event.
	c.mu.Lock()
	c.live[origin]++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.live[origin]--; c.live[origin] <= 0 {
			delete(c.live, origin)
		}
		c.mu.Unlock()
	}()
	if c.onConnect != nil {
		c.onConnect(eventsURL)
	}
	return true, c.readEvents(resp.Body, origin, func() { idle.Reset(sseIdleTimeout) })
}

// readEvents parses a text/event-stream from r, handing each status event
// to onEvent; tick runs for every line received.
func (c *Checker) readEvents(r io.Reader, origin string, tick func()) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), sseMaxLine)
	var event string
	var data strings.Builder
	for sc.Scan() {
		tick()
		line := sc.Text()
		if line == "" {
			// Dispatch.
			if (event == "status" || event == "") && data.Len() > 0 {
				c.onEvent(data.String(), origin)
			}
			event = ""
			data.Reset()
			continue
		}
		if line[0] == ':' {
			continue // comment: keepalive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if data.Len()+len(value) > sseMaxLine {
				return errors.New("statuslist: events: event too large")
			}
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	return sc.Err()
}

// onEvent invalidates the list an event names, if it is of the feed's
// origin. A malformed event drops the whole origin: better one refetch too
// many than a missed revocation.
func (c *Checker) onEvent(data, origin string) {
	var ev Event
	if err := json.Unmarshal([]byte(data), &ev); err != nil || ev.List == "" {
		c.invalidateOrigin(origin)
		return
	}
	if originOf(ev.List) != origin {
		return
	}
	c.Invalidate(ev.List)
}
