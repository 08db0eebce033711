package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ForwardPath is the issuer endpoint a Forwarder posts to, relative to the
// issuer's base URL.
const ForwardPath = "/v1/audit/events"

// MaxForwardBatchBytes bounds the body of one POST to ForwardPath. The
// issuer refuses larger bodies with 413; a Forwarder never builds one.
const MaxForwardBatchBytes = 1 << 20

// maxForwardLine bounds one forwarded line, leaving room under
// MaxEventSize for what the issuer adds when it appends the event (seq,
// prev, hash, its own actor and the claimed actor moved into detail).
const maxForwardLine = MaxEventSize - 4<<10

// Forwarder defaults.
const (
	DefaultForwardMaxBatch      = 256
	DefaultForwardFlushInterval = 200 * time.Millisecond
	DefaultForwardQueueSize     = 10_000
	DefaultForwardMinBackoff    = 100 * time.Millisecond
	DefaultForwardMaxBackoff    = 30 * time.Second
	DefaultForwardTimeout       = 10 * time.Second
)

var (
	// ErrQueueFull is returned by Forwarder.Record when the queue holds
	// QueueSize undelivered events: the issuer has been unreachable (or
	// refusing) for long enough, and the decision must not be made without
	// a trace.
	ErrQueueFull = errors.New("audit: forward queue is full")
	// ErrClosed is returned by Forwarder.Record after Close.
	ErrClosed = errors.New("audit: forwarder is closed")
)

// ForwardOptions configure a Forwarder. URL and Sign are required; every
// other field has a default.
type ForwardOptions struct {
	// URL is the issuer's base URL (as in its did:web and its
	// presentations' audience), e.g. https://issuer.example.com. Events are
	// posted to URL + ForwardPath. It must be https, or plain http to
	// localhost or a loopback address.
	URL string
	// Client sends the batches; by default an http.Client with a 10 s
	// timeout.
	Client *http.Client
	// Sign returns a request presentation (a vp+jwt without credential,
	// signed by a principal registered at the issuer as an orchestrator or
	// admin, aud = URL, htm = method, htu = url) for one request. It is
	// called for every attempt, retries included, because the issuer
	// refuses a replayed jti. agentid's internal client builds one with
	// Key.Present; the audit package stays free of key handling.
	Sign func(method, url string) (string, error)
	// MaxBatch bounds the events per request, DefaultForwardMaxBatch by
	// default. A batch is also kept under MaxForwardBatchBytes.
	MaxBatch int
	// FlushInterval is how long a batch may gather before it is sent when
	// it is not full, DefaultForwardFlushInterval by default.
	FlushInterval time.Duration
	// QueueSize bounds the events held (queued or being delivered),
	// DefaultForwardQueueSize by default. Each takes at most about
	// MaxEventSize bytes, usually a few hundred.
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait between delivery attempts of
	// a batch, which doubles from MinBackoff up to MaxBackoff, with
	// jitter. Defaults DefaultForwardMinBackoff and DefaultForwardMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// OnError, when set, is called from the delivery goroutine with every
	// failed delivery attempt, a *DeliveryError. It must not block for long:
	// delivery waits for it.
	OnError func(err error)
	// Now stamps events whose Time is zero when they are recorded;
	// time.Now by default.
	Now func() time.Time
}

// DeliveryError reports one failed attempt to deliver a batch of events.
type DeliveryError struct {
	// Events is the number of events in the attempt.
	Events int
	// Status is the issuer's HTTP status, 0 when there was no answer.
	Status int
	// Code and Detail are the issuer's problem details, when it sent any.
	Code, Detail string
	// Dropped is true when the issuer refused a single event with 400 or
	// 413: retrying could never succeed, so it was discarded and is not in
	// the issuer's trail. Otherwise the events stay queued and are retried.
	Dropped bool
	// Err is the transport or signing error, when there is one.
	Err error
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "audit: forward %d events: ", e.Events)
	switch {
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	}
	if e.Dropped {
		b.WriteString(" (event dropped)")
	}
	return b.String()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// ForwardStats are a Forwarder's counters.
type ForwardStats struct {
	Pending   int    // queued or being delivered
	Delivered uint64 // accepted by the issuer
	Dropped   uint64 // refused by the issuer for good (see DeliveryError.Dropped)
}

// Forwarder is a Sink that forwards events to the issuer's audit trail
// (POST ForwardPath, JSON lines), for verifiers embedded in other
// programs. Create one with Forward and stop it with Close.
//
// Forwarding is asynchronous. Record checks and encodes the event, queues
// it and returns: nil means queued, not durable at the issuer. A
// background goroutine posts the queue in order, in batches, and retries a
// failed batch with backoff, holding back the events behind it, so that
// events reach the issuer in the order they were recorded (a retry after
// an answer that was lost can deliver a batch twice). Delivery failures
// are reported by Err, Stats and the OnError callback.
//
// It fails closed: when delivery keeps failing and QueueSize events are
// waiting, Record returns ErrQueueFull, and a verifier using the
// Forwarder as its audit sink then refuses the request. Events still
// queued when the process ends are lost; call Close to flush them.
//
// The issuer accepts only ActionVerify events here and sets the actor to
// the forwarding principal (the event's own Actor is kept in its Detail),
// and it assigns Seq, Prev and Hash in its own chain; Record therefore
// refuses other actions and does not set those fields.
type Forwarder struct {
	endpoint   string
	client     *http.Client
	sign       func(method, url string) (string, error)
	maxBatch   int
	interval   time.Duration
	size       int
	minBackoff time.Duration
	maxBackoff time.Duration
	onError    func(error)
	now        func() time.Time

	mu        sync.Mutex
	queue     [][]byte // encoded lines, oldest first; the batch in flight is at the head
	maxBytes  int      // current bound of a batch body; lowered after a 413
	closed    bool
	err       error // last delivery error; nil after a successful delivery
	delivered uint64
	dropped   uint64

	wake      chan struct{} // capacity 1: something to send
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	stop      context.Context // cancelled when Close gives up
	abort     context.CancelFunc
	done      chan struct{} // closed when the delivery goroutine ends
}

// Forward returns a Forwarder and starts its delivery goroutine, which
// runs until Close.
func Forward(opts ForwardOptions) (*Forwarder, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errorf("forward: URL %q is not an issuer base URL", opts.URL)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !loopback(u.Hostname())) {
		return nil, errorf("forward: URL %q must be https (plain http only to localhost)", opts.URL)
	}
	if opts.Sign == nil {
		return nil, errorf("forward: a Sign function is required")
	}
	f := &Forwarder{
		endpoint:   strings.TrimSuffix(opts.URL, "/") + ForwardPath,
		client:     opts.Client,
		sign:       opts.Sign,
		maxBatch:   opts.MaxBatch,
		interval:   opts.FlushInterval,
		size:       opts.QueueSize,
		minBackoff: opts.MinBackoff,
		maxBackoff: opts.MaxBackoff,
		onError:    opts.OnError,
		now:        opts.Now,
		maxBytes:   MaxForwardBatchBytes,
		wake:       make(chan struct{}, 1),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: DefaultForwardTimeout}
	}
	if f.maxBatch <= 0 {
		f.maxBatch = DefaultForwardMaxBatch
	}
	if f.interval <= 0 {
		f.interval = DefaultForwardFlushInterval
	}
	if f.size <= 0 {
		f.size = DefaultForwardQueueSize
	}
	if f.minBackoff <= 0 {
		f.minBackoff = DefaultForwardMinBackoff
	}
	if f.maxBackoff <= 0 {
		f.maxBackoff = DefaultForwardMaxBackoff
	}
	f.maxBackoff = max(f.maxBackoff, f.minBackoff)
	if f.onError == nil {
		f.onError = func(error) {}
	}
	if f.now == nil {
		f.now = time.Now
	}
	f.stop, f.abort = context.WithCancel(context.Background())
	go f.run()
	return f, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// forwardLine is the wire form of a forwarded event: the fields a verifier
// may set, with Event's JSON names.
type forwardLine struct {
	Time       time.Time `json:"time"`
	RequestID  string    `json:"requestId,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	Action     string    `json:"action"`
	Subject    string    `json:"subject,omitempty"`
	Credential string    `json:"credential,omitempty"`
	Resource   string    `json:"resource,omitempty"`
	Scopes     []string  `json:"scopes,omitempty"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	SourceIP   string    `json:"sourceIp,omitempty"`
}

// Record queues a copy of ev for delivery and returns at once; it never
// waits for the network. A nil error means queued, not delivered. It
// fails with ErrInvalidEvent for an event the issuer would refuse (an
// action other than ActionVerify, a bad decision, too large), with
// ErrQueueFull when QueueSize events are undelivered, and with ErrClosed
// after Close. ev is not modified.
func (f *Forwarder) Record(ctx context.Context, ev *Event) error {
	if ev == nil {
		return fmt.Errorf("%w: nil event", ErrInvalidEvent)
	}
	if err := ctx.Err(); err != nil {
		return errorf("forward: %w", err)
	}
	line, err := f.encode(ev)
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return ErrClosed
	}
	if len(f.queue) >= f.size {
		n, last := len(f.queue), f.err
		f.mu.Unlock()
		if last != nil {
			return fmt.Errorf("%w: %d events undelivered; last delivery error: %v", ErrQueueFull, n, last)
		}
		return fmt.Errorf("%w: %d events undelivered", ErrQueueFull, n)
	}
	f.queue = append(f.queue, line)
	n := len(f.queue)
	f.mu.Unlock()
	if n == 1 || n >= f.maxBatch {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// encode checks a copy of ev and returns its wire line, newline included.
func (f *Forwarder) encode(ev *Event) ([]byte, error) {
	c := *ev
	if err := Prepare(&c, f.now); err != nil { // copies Scopes
		return nil, err
	}
	if c.Action != ActionVerify {
		return nil, fmt.Errorf("%w: only %q events are forwarded, not %q", ErrInvalidEvent, ActionVerify, c.Action)
	}
	b, err := json.Marshal(&forwardLine{
		Time: c.Time, RequestID: c.RequestID, Actor: c.Actor, Action: c.Action, Subject: c.Subject,
		Credential: c.Credential, Resource: c.Resource, Scopes: c.Scopes, Decision: c.Decision,
		Reason: c.Reason, Detail: c.Detail, SourceIP: c.SourceIP,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if len(b) > maxForwardLine {
		return nil, fmt.Errorf("%w: %d bytes encoded, forwarding limit %d", ErrInvalidEvent, len(b), maxForwardLine)
	}
	return append(b, '\n'), nil
}

// Err returns the error of the last delivery attempt, or nil when it
// succeeded or none has failed yet. A non-nil Err means events are piling
// up (or that one was dropped, see DeliveryError.Dropped).
func (f *Forwarder) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Stats returns the Forwarder's counters.
func (f *Forwarder) Stats() ForwardStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ForwardStats{Pending: len(f.queue), Delivered: f.delivered, Dropped: f.dropped}
}

// Close stops accepting events and delivers the ones queued, retrying
// until ctx ends; then it abandons the rest and stops the delivery
// goroutine. It returns nil when every event was delivered (or dropped
// as refused, which Err and Stats report), and otherwise an error saying
// how many were lost. Calling Close again waits for the same end.
func (f *Forwarder) Close(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.closeOnce.Do(func() { close(f.closing) })
	select {
	case <-f.done:
	case <-ctx.Done():
		f.abort()
		<-f.done
	}
	f.abort()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.queue); n > 0 {
		if f.err != nil {
			return errorf("forward: close: %d events not delivered: %v", n, f.err)
		}
		return errorf("forward: close: %d events not delivered", n)
	}
	return nil
}

// pending returns the number of queued events and whether Close was
// called.
func (f *Forwarder) pending() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue), f.closed
}

// run is the delivery goroutine: it gathers a batch (until MaxBatch events
// or FlushInterval), delivers it, and repeats; on Close it sends what is
// queued at once.
func (f *Forwarder) run() {
	defer close(f.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		n, closing := f.pending()
		if n == 0 {
			if closing {
				return
			}
			select {
			case <-f.wake:
			case <-f.closing:
			}
			continue
		}
		deadline := time.Now().Add(f.interval)
		for n < f.maxBatch && !closing {
			d := time.Until(deadline)
			if d <= 0 {
				break
			}
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-f.wake:
				timer.Stop()
			case <-f.closing:
				timer.Stop()
			}
			n, closing = f.pending()
		}
		if !f.deliver() {
			return
		}
	}
}

// batch returns the lines at the head of the queue that form the next
// batch: at most MaxBatch of them and under the byte bound, and at least
// one.
func (f *Forwarder) batch() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	size := 0
	n := 0
	for n < len(f.queue) && n < f.maxBatch {
		if n > 0 && size+len(f.queue[n]) > f.maxBytes {
			break
		}
		size += len(f.queue[n])
		n++
	}
	return f.queue[:n:n]
}

// deliver sends the batch at the head of the queue until it is accepted or
// dropped (true), or Close gives up (false). A 400 or 413 answer refuses
// the batch as such: it is split in two and the first half tried, down to
// single events, so that one event the issuer will never take does not
// hold back the rest.
func (f *Forwarder) deliver() bool {
	b := f.batch()
	backoff := f.minBackoff
	for {
		err := f.post(b)
		if err == nil {
			f.mu.Lock()
			f.remove(len(b))
			f.delivered += uint64(len(b))
			f.err = nil
			f.mu.Unlock()
			return true
		}
		if f.stop.Err() != nil {
			return false
		}
		if err.Status == http.StatusBadRequest || err.Status == http.StatusRequestEntityTooLarge {
			if err.Status == http.StatusRequestEntityTooLarge {
				f.mu.Lock()
				f.maxBytes = max(bodySize(b)/2, 1)
				f.mu.Unlock()
			}
			if len(b) > 1 {
				f.report(err)
				b = b[:len(b)/2]
				continue
			}
			err.Dropped = true
			f.mu.Lock()
			f.remove(1)
			f.dropped++
			f.mu.Unlock()
			f.report(err)
			return true
		}
		f.report(err)
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, f.maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-f.stop.Done():
			t.Stop()
			return false
		}
	}
}

// remove drops the first n lines of the queue. The caller holds f.mu.
func (f *Forwarder) remove(n int) {
	clear(f.queue[:n])
	f.queue = f.queue[n:]
	if len(f.queue) == 0 {
		f.queue = nil
	}
}

func (f *Forwarder) report(err *DeliveryError) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
	f.onError(err)
}

func bodySize(b [][]byte) int {
	n := 0
	for _, l := range b {
		n += len(l)
	}
	return n
}

// post makes one delivery attempt.
func (f *Forwarder) post(b [][]byte) *DeliveryError {
	fail := func(err error) *DeliveryError { return &DeliveryError{Events: len(b), Err: err} }
	tok, err := f.sign(http.MethodPost, f.endpoint)
	if err != nil {
		return fail(fmt.Errorf("sign request: %w", err))
	}
	req, err := http.NewRequestWithContext(f.stop, http.MethodPost, f.endpoint, bytes.NewReader(bytes.Join(b, nil)))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/jsonl")
	req.Header.Set("Authorization", "VP "+tok)
	resp, err := f.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	de := &DeliveryError{Events: len(b), Status: resp.StatusCode}
	var p struct{ Code, Detail string }
	if json.Unmarshal(body, &p) == nil {
		de.Code, de.Detail = p.Code, p.Detail
	}
	return de
}
