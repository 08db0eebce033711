package publish

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/agentid/agentid/statuslist"
)

// Feed defaults.
const (
	DefaultKeepalive      = statuslist.DefaultKeepalive
	DefaultSubscriberBuf  = 64
	DefaultMaxSubscribers = 1024
	// DefaultMaxPerSource bounds the anonymous streams of one source.
	DefaultMaxPerSource = 8
	// DefaultMaxPerPrincipal bounds the streams of one authenticated
	// principal (a resource API's replicas may share its key).
	DefaultMaxPerPrincipal = 64
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
	// Reserved is the number of those slots that only authenticated
	// subscribers may take, MaxSubscribers/4 by default;
	// anonymous subscribers share the rest. Negative means none.
	Reserved int
	// MaxPerSource bounds the anonymous streams of one source (client
	// IP), DefaultMaxPerSource by default.
	MaxPerSource int
	// MaxPerPrincipal bounds the streams of one authenticated principal,
	// DefaultMaxPerPrincipal by default.
	MaxPerPrincipal int
}

// Subscriber says who asks for a stream, for the feed's bounds: the
// server fills it in, having authenticated the principal if any.
type Subscriber struct {
	// Source is the client's address (an IP), never empty for anonymous
	// subscribers: all those without one share a bound.
	Source string
	// Principal is the authenticated principal's DID, or "" for an
	// anonymous subscriber.
	Principal string
}

func (s Subscriber) key() string {
	if s.Principal != "" {
		return "p\x00" + s.Principal
	}
	return "s\x00" + s.Source
}

// Feed is a broker for status change events, served as server-sent events
// (GET /v1/status/events). Publishing never blocks: each subscriber has a
// bounded queue, and a subscriber whose queue is full is disconnected.
//
// A stranger must not be able to keep verifiers from following the feed by
// holding its slots: anonymous subscribers are bounded per source
// (MaxPerSource) and may not take the Reserved slots, which are kept for
// subscribers that authenticated as principals (bounded per principal).
type Feed struct {
	keepalive time.Duration
	buf       int
	maxSubs   int
	reserved  int
	perSource int
	perPrinc  int

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	anon   int            // anonymous subscribers
	per    map[string]int // subscribers per Subscriber.key
	closed bool
}

type subscriber struct {
	key  string
	anon bool
	ch   chan statuslist.Event
	gone chan struct{} // closed when the feed drops the subscriber
	once sync.Once
	// shutdown is set (before gone is closed) when the feed itself is
	// closing, so that the stream ends with a shutdown event.
	shutdown bool
}

func (s *subscriber) drop() { s.once.Do(func() { close(s.gone) }) }

// NewFeed returns a Feed.
func NewFeed(opts FeedOptions) *Feed {
	f := &Feed{keepalive: opts.Keepalive, buf: opts.Buffer, maxSubs: opts.MaxSubscribers, reserved: opts.Reserved,
		perSource: opts.MaxPerSource, perPrinc: opts.MaxPerPrincipal, subs: map[*subscriber]struct{}{}, per: map[string]int{}}
	if f.keepalive <= 0 {
		f.keepalive = DefaultKeepalive
	}
	if f.buf <= 0 {
		f.buf = DefaultSubscriberBuf
	}
	if f.maxSubs <= 0 {
		f.maxSubs = DefaultMaxSubscribers
	}
	switch {
	case f.reserved == 0:
		f.reserved = f.maxSubs / 4
	case f.reserved < 0:
		f.reserved = 0
	}
	f.reserved = min(f.reserved, f.maxSubs)
	if f.perSource <= 0 {
		f.perSource = DefaultMaxPerSource
	}
	if f.perPrinc <= 0 {
		f.perPrinc = DefaultMaxPerPrincipal
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
			f.removeLocked(s)
		}
	}
}

// Subscribers returns the number of connected subscribers.
func (f *Feed) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Close ends every stream at once, each with a final shutdown event
// (see Serve), and refuses new subscribers. A server closes its feed
// before http.Server.Shutdown, which otherwise waits for the streams to
// end by themselves until its deadline and then cuts them.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		s.shutdown = true
		f.removeLocked(s)
	}
}

// removeLocked drops s, if it is still subscribed. The caller holds f.mu.
func (f *Feed) removeLocked(s *subscriber) {
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		if s.anon {
			f.anon--
		}
		if f.per[s.key]--; f.per[s.key] <= 0 {
			delete(f.per, s.key)
		}
	}
	s.drop()
}

// Why a subscription was refused.
const (
	refusedFull      = "too many subscribers"
	refusedPerSource = "too many subscriptions from this source"
)

func (f *Feed) subscribe(who Subscriber) (*subscriber, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	anon := who.Principal == ""
	key := who.key()
	switch {
	case f.closed || len(f.subs) >= f.maxSubs:
		return nil, refusedFull
	case anon && f.anon >= f.maxSubs-f.reserved:
		return nil, refusedFull
	case anon && f.per[key] >= f.perSource, !anon && f.per[key] >= f.perPrinc:
		return nil, refusedPerSource
	}
	s := &subscriber{key: key, anon: anon, ch: make(chan statuslist.Event, f.buf), gone: make(chan struct{})}
	f.subs[s] = struct{}{}
	f.per[key]++
	if anon {
		f.anon++
	}
	return s, ""
}

func (f *Feed) unsubscribe(s *subscriber) {
	f.mu.Lock()
	f.removeLocked(s)
	f.mu.Unlock()
}

// writeTimeout bounds each write to a subscriber, so that a peer that
// stops reading cannot pin a handler forever.
const writeTimeout = 10 * time.Second

// ServeHTTP serves an anonymous subscriber whose source is the host of
// r.RemoteAddr; see Serve.
func (f *Feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	f.Serve(w, r, Subscriber{Source: host})
}

// Serve streams events to who as text/event-stream:
//
//	event: status
//	data: {"list":"<url>","purpose":"revocation"}
//
// with a ": keepalive" comment every Keepalive. It returns when the client
// goes away, the subscriber falls behind, or the feed is closed; a closed
// feed first sends
//
//	event: shutdown
//	data: {}
//
// so that the client knows the server is going away (and reconnects,
// having missed nothing yet) rather than seeing a cut stream. A
// subscriber over its bounds gets 503 with Retry-After.
func (f *Feed) Serve(w http.ResponseWriter, r *http.Request, who Subscriber) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rc := http.NewResponseController(w)
	s, refused := f.subscribe(who)
	if s == nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, refused, http.StatusServiceUnavailable)
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
			if s.shutdown {
				write([]byte("event: shutdown\ndata: {}\n\n"))
			}
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
