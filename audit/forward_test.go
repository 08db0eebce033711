package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIssuer is an ingest endpoint that records the batches it accepts.
// answer, when set, chooses the status of each request (n counts from 1);
// 0 means accept.
type fakeIssuer struct {
	t       *testing.T
	srv     *httptest.Server
	answer  func(n int, batch []Event) int
	mu      sync.Mutex
	n       int
	batches [][]Event
	auth    []string
}

func newFakeIssuer(t *testing.T, answer func(n int, batch []Event) int) *fakeIssuer {
	f := &fakeIssuer{t: t, answer: answer}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != ForwardPath {
		http.NotFound(w, r)
		return
	}
	var batch []Event
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, MaxForwardBatchBytes)
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.DisallowUnknownFields()
		var ev Event
		if err := d.Decode(&ev); err != nil {
			f.t.Errorf("bad line %q: %v", sc.Bytes(), err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		batch = append(batch, ev)
	}
	f.mu.Lock()
	f.n++
	n := f.n
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if f.answer != nil {
		if st := f.answer(n, batch); st != 0 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(st)
			fmt.Fprintf(w, `{"status":%d,"code":"nope","detail":"refused"}`, st)
			return
		}
	}
	f.mu.Lock()
	f.batches = append(f.batches, batch)
	f.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d}`, len(batch))
}

// received returns the request ids of the accepted events in order, and
// the accepted batch sizes.
func (f *fakeIssuer) received() (ids []string, sizes []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.batches {
		sizes = append(sizes, len(b))
		for _, ev := range b {
			ids = append(ids, ev.RequestID)
		}
	}
	return ids, sizes
}

// signer is a ForwardOptions.Sign that numbers its tokens and checks its
// arguments.
func signer(t *testing.T, wantURL string) func(string, string) (string, error) {
	var n atomic.Int64
	return func(method, u string) (string, error) {
		if method != http.MethodPost || u != wantURL {
			t.Errorf("Sign(%q, %q), want POST %q", method, u, wantURL)
		}
		return "tok" + strconv.FormatInt(n.Add(1), 10), nil
	}
}

func newForwarder(t *testing.T, fi *fakeIssuer, opts ForwardOptions) *Forwarder {
	t.Helper()
	opts.URL = fi.srv.URL
	opts.Sign = signer(t, fi.srv.URL+ForwardPath)
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Millisecond
	}
	f, err := Forward(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		f.Close(ctx)
	})
	return f
}

func fwdEvent(i int) *Event {
	return &Event{Time: t0.Add(time.Duration(i) * time.Second), RequestID: strconv.Itoa(i), Action: ActionVerify,
		Actor: "did:key:zAgent", Subject: "did:key:zAgent", Resource: "https://api.example.com",
		Scopes: []string{"calendar:read"}, Decision: DecisionAllow}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func recordN(t *testing.T, f *Forwarder, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := f.Record(t.Context(), fwdEvent(i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func closeForwarder(t *testing.T, f *Forwarder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestForwardBatching: full batches go at once; a partial batch waits for
// FlushInterval (here: for Close, which flushes).
func TestForwardBatching(t *testing.T) {
	fi := newFakeIssuer(t, nil)
	f := newForwarder(t, fi, ForwardOptions{MaxBatch: 10, FlushInterval: time.Hour})
	recordN(t, f, 0, 25)
	eventually(t, "two full batches", func() bool { _, s := fi.received(); return len(s) == 2 })
	time.Sleep(20 * time.Millisecond)
	if _, s := fi.received(); !slices.Equal(s, []int{10, 10}) {
		t.Fatalf("batches before Close: %v", s)
	}
	closeForwarder(t, f)
	got, sizes := fi.received()
	if !slices.Equal(sizes, []int{10, 10, 5}) || !slices.Equal(got, ids(0, 25)) {
		t.Fatalf("batches %v, events %v", sizes, got)
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if !slices.Equal(fi.auth, []string{"VP tok1", "VP tok2", "VP tok3"}) {
		t.Fatalf("Authorization headers %v: want one fresh presentation per request", fi.auth)
	}
	// The wire form is the event as recorded.
	ev := fi.batches[0][3]
	want := fwdEvent(3)
	if !ev.Time.Equal(want.Time) || ev.Actor != want.Actor || ev.Subject != want.Subject || ev.Resource != want.Resource ||
		!slices.Equal(ev.Scopes, want.Scopes) || ev.Decision != want.Decision || ev.Seq != 0 || ev.Hash != "" {
		t.Fatalf("delivered %+v, recorded %+v", ev, want)
	}
}

// TestForwardFlushInterval: a partial batch is sent after FlushInterval
// without Close.
func TestForwardFlushInterval(t *testing.T) {
	fi := newFakeIssuer(t, nil)
	f := newForwarder(t, fi, ForwardOptions{MaxBatch: 100, FlushInterval: 20 * time.Millisecond})
	start := time.Now()
	recordN(t, f, 0, 3)
	eventually(t, "a flush", func() bool { got, _ := fi.received(); return len(got) == 3 })
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("flushed after %v, before FlushInterval", d)
	}
	if _, s := fi.received(); !slices.Equal(s, []int{3}) {
		t.Fatalf("batches %v", s)
	}
}

// TestForwardRetry: a batch refused with 503 is retried and delivered
// once, in order, and Err reports the failure until the retry succeeds.
func TestForwardRetry(t *testing.T) {
	fi := newFakeIssuer(t, func(n int, _ []Event) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	var mu sync.Mutex
	var reported []error
	f := newForwarder(t, fi, ForwardOptions{MaxBatch: 4, FlushInterval: time.Millisecond, OnError: func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}})
	recordN(t, f, 0, 10)
	closeForwarder(t, f)
	got, _ := fi.received()
	if !slices.Equal(got, ids(0, 10)) {
		t.Fatalf("delivered %v", got)
	}
	if f.Err() != nil {
		t.Fatalf("Err after a successful retry: %v", f.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 2 {
		t.Fatalf("OnError called %d times, want 2: %v", len(reported), reported)
	}
	var de *DeliveryError
	if !errors.As(reported[0], &de) || de.Status != http.StatusServiceUnavailable || de.Code != "nope" || de.Dropped {
		t.Fatalf("reported %#v", reported[0])
	}
	if st := f.Stats(); st.Delivered != 10 || st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardOrder: with failures interleaved and many batches, every
// event arrives once and in the order recorded.
func TestForwardOrder(t *testing.T) {
	fi := newFakeIssuer(t, func(n int, _ []Event) int {
		if n%3 == 0 {
			return http.StatusBadGateway
		}
		return 0
	})
	f := newForwarder(t, fi, ForwardOptions{MaxBatch: 7, FlushInterval: time.Millisecond})
	for i := range 500 {
		if err := f.Record(t.Context(), fwdEvent(i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	closeForwarder(t, f)
	if got, _ := fi.received(); !slices.Equal(got, ids(0, 500)) {
		t.Fatalf("delivered out of order or not once: %v", got)
	}
}

// TestForwardQueueFull: when the issuer stays down, Record fails once
// QueueSize events wait (fail closed), and Close reports the loss.
func TestForwardQueueFull(t *testing.T) {
	fi := newFakeIssuer(t, func(int, []Event) int { return http.StatusServiceUnavailable })
	f := newForwarder(t, fi, ForwardOptions{QueueSize: 5, FlushInterval: time.Millisecond})
	recordN(t, f, 0, 5)
	eventually(t, "a failed delivery", func() bool { return f.Err() != nil })
	err := f.Record(t.Context(), fwdEvent(5))
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Record on a full queue: %v", err)
	}
	var de *DeliveryError
	if !errors.As(f.Err(), &de) || de.Status != http.StatusServiceUnavailable {
		t.Fatalf("Err: %v", f.Err())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := f.Close(ctx); err == nil || !strings.Contains(err.Error(), "5 events not delivered") {
		t.Fatalf("Close with the issuer down: %v", err)
	}
	if err := f.Record(t.Context(), fwdEvent(6)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
	if got, _ := fi.received(); len(got) != 0 {
		t.Fatalf("delivered %v", got)
	}
}

// TestForwardCloseFlushes: Close delivers everything queued at once,
// without waiting for FlushInterval.
func TestForwardCloseFlushes(t *testing.T) {
	fi := newFakeIssuer(t, nil)
	f := newForwarder(t, fi, ForwardOptions{MaxBatch: 1000, FlushInterval: time.Hour})
	recordN(t, f, 0, 50)
	start := time.Now()
	closeForwarder(t, f)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if got, _ := fi.received(); !slices.Equal(got, ids(0, 50)) {
		t.Fatalf("delivered %v", got)
	}
	if err := f.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestForwardDropsRefusedEvent: a batch refused with 400 is split until
// the refused event is alone; it alone is dropped and reported, the rest
// arrive in order.
func TestForwardDropsRefusedEvent(t *testing.T) {
	fi := newFakeIssuer(t, func(_ int, b []Event) int {
		for _, ev := range b {
			if ev.RequestID == "13" {
				return http.StatusBadRequest
			}
		}
		return 0
	})
	var dropped atomic.Int64
	f := newForwarder(t, fi, ForwardOptions{MaxBatch: 32, FlushInterval: time.Hour, OnError: func(err error) {
		var de *DeliveryError
		if errors.As(err, &de) && de.Dropped {
			dropped.Add(1)
		}
	}})
	recordN(t, f, 0, 40)
	closeForwarder(t, f)
	got, _ := fi.received()
	want := slices.DeleteFunc(ids(0, 40), func(s string) bool { return s == "13" })
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v", got)
	}
	if st := f.Stats(); st.Dropped != 1 || st.Delivered != 39 || dropped.Load() != 1 {
		t.Fatalf("stats %+v, %d drops reported", st, dropped.Load())
	}
}

// TestForward413Splits: an issuer with a smaller body limit gets smaller
// batches, and nothing is lost.
func TestForward413Splits(t *testing.T) {
	var maxSeen atomic.Int64
	fi := newFakeIssuer(t, func(_ int, b []Event) int {
		if len(b) > 8 {
			return http.StatusRequestEntityTooLarge
		}
		maxSeen.Store(max(maxSeen.Load(), int64(len(b))))
		return 0
	})
	f := newForwarder(t, fi, ForwardOptions{MaxBatch: 100, FlushInterval: time.Hour})
	recordN(t, f, 0, 100)
	closeForwarder(t, f)
	if got, _ := fi.received(); !slices.Equal(got, ids(0, 100)) {
		t.Fatalf("delivered %v", got)
	}
	if st := f.Stats(); st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardRecord: Record refuses what the issuer would refuse, and
// queues a copy.
func TestForwardRecord(t *testing.T) {
	fi := newFakeIssuer(t, nil)
	f := newForwarder(t, fi, ForwardOptions{FlushInterval: time.Hour})
	for name, ev := range map[string]*Event{
		"nil":          nil,
		"other action": {Action: ActionAgentIssue, Decision: DecisionAllow},
		"no decision":  {Action: ActionVerify},
		"too large":    {Action: ActionVerify, Decision: DecisionDeny, Detail: strings.Repeat("x", MaxEventSize)},
		"bad time":     {Action: ActionVerify, Decision: DecisionDeny, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := f.Record(t.Context(), ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ev := fwdEvent(1)
	ev.Time = time.Time{}
	if err := f.Record(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	ev.Scopes[0] = "changed"
	ev.Subject = "changed"
	if !ev.Time.IsZero() {
		t.Error("Record modified the caller's event")
	}
	closeForwarder(t, f)
	fi.mu.Lock()
	defer fi.mu.Unlock()
	got := fi.batches[0][0]
	if got.Scopes[0] != "calendar:read" || got.Subject != "did:key:zAgent" || got.Time.IsZero() {
		t.Fatalf("delivered %+v", got)
	}
}

func TestForwardOptions(t *testing.T) {
	sign := func(string, string) (string, error) { return "", nil }
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://issuer.example.com", true},
		{"https://issuer.example.com/base/", true},
		{"http://localhost:8080", true},
		{"http://127.0.0.1:8080", true},
		{"http://issuer.example.com", false},
		{"ftp://issuer.example.com", false},
		{"https://user:pw@issuer.example.com", false},
		{"issuer.example.com", false},
		{"", false},
	} {
		f, err := Forward(ForwardOptions{URL: c.url, Sign: sign})
		if (err == nil) != c.ok {
			t.Errorf("%q: %v", c.url, err)
		}
		if f != nil {
			f.Close(t.Context())
		}
	}
	if _, err := Forward(ForwardOptions{URL: "https://issuer.example.com"}); err == nil {
		t.Error("no Sign accepted")
	}
}

// The Forwarder is a Sink.
var _ Sink = (*Forwarder)(nil)
