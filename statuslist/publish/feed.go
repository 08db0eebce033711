package publish

import (
	"encoding/json"
	"github.com/agentid/agentid/statuslist"
	"net/http"
	"sync"
	"time"
)

// Feed defaults.
const (
	DefaultKeepalive      = statuslist.DefaultKeepalive
	DefaultSubscriberBuf  = 64
	DefaultMaxSubscribers = 1024
)

// FeedOptions configure a Feed. The zero value is usable.
type FeedOptions struct {
	// Keepalive is the interval between ": keepalive" comments,
	// DefaultKeepalive by default. They keep proxies from closing an idle
	// stream and let clients detect a dead one.
	Keepalive time.Duration
	// Buffer is the number of events queued per subscriber,
	// DefaultSubscriberBuf by default. A subscriber that falls further
	// behind is disconnected: it reconnects and, having possibly missed
	// events, drops its cache.
	Buffer int
	// MaxSubscribers bounds concurrent streams, DefaultMaxSubscribers by
	// default; further requests get 503.
	MaxSubscribers int
}

// Feed is a broker for status change events, served as server-sent events
// (GET /v1/status/events). Publishing never blocks: each subscriber has a
// bounded queue, and a subscriber whose queue is full is disconnected.
type Feed struct {
	keepalive time.Duration
	buf       int
	maxSubs   int

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch   chan statuslist.Event
	gone chan struct{} // closed when the feed drops the subscriber
	once sync.Once
}

func (s *subscriber) drop() { s.once.Do(func() { close(s.gone) }) }

// NewFeed returns a Feed.
func NewFeed(opts FeedOptions) *Feed {
	f := &Feed{keepalive: opts.Keepalive, buf: opts.Buffer, maxSubs: opts.MaxSubscribers, subs: map[*subscriber]struct{}{}}
	if f.keepalive <= 0 {
		f.keepalive = DefaultKeepalive
	}
	if f.buf <= 0 {
		f.buf = DefaultSubscriberBuf
	}
	if f.maxSubs <= 0 {
		f.maxSubs = DefaultMaxSubscribers
	}
	return f
}

// Publish sends ev to every subscriber without blocking; slow subscribers
// are disconnected.
func (f *Feed) Publish(ev statuslist.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.ch <- ev:
		default:
			delete(f.subs, s)
			s.drop()
		}
	}
}

// Subscribers returns the number of connected subscribers.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Close disconnects every subscriber and refuses new ones.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		delete(f.subs, s)
		s.drop()
	}
}

func (f *Feed) subscribe() *subscriber {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || len(f.subs) >= f.maxSubs {
		return nil
	}
	s := &subscriber{ch: make(chan statuslist.Event, f.buf), gone: make(chan struct{})}
	f.subs[s] = struct{}{}
	return s
}

func (f *Feed) unsubscribe(s *subscriber) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
	s.drop()
}

// writeTimeout bounds each write to a subscriber, so that a peer that
// stops reading cannot pin a handler forever.
const writeTimeout = 10 * time.Second

// ServeHTTP streams events as text/event-stream:
//
//	event: status
//	data: {"list":"<url>","purpose":"revocation"}
//
// with a ": keepalive" comment every Keepalive. It returns when the client
// goes away, the subscriber falls behind, or the feed is closed.
func (f *Feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rc := http.NewResponseController(w)
	s := f.subscribe()
	if s == nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many subscribers", http.StatusServiceUnavailable)
		return
	}
	defer f.unsubscribe(s)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The opening comment tells the client that it is subscribed.
	if !write([]byte("retry: 1000\n: subscribed\n\n")) {
		return
	}
	t := time.NewTicker(f.keepalive)
	defer t.Stop()
	buf := make([]byte, 0, 256)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.gone:
			return
		case <-t.C:
			if !write([]byte(": keepalive\n\n")) {
				return
			}
		case ev := <-s.ch:
			data, err := json.Marshal(ev)
			if err != nil {
				return
			}
			buf = append(buf[:0], "event: status\ndata: "...)
			buf = append(buf, data...)
			buf = append(buf, "\n\n"...)
			if !write(buf) {
				return
			}
		}
	}
}
