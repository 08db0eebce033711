package publish

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/vc/jws"
)

// Publisher defaults.
const (
	DefaultValidity         = 24 * time.Hour
	DefaultCoalesceInterval = 100 * time.Millisecond
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Issuer is the issuer DID (the list credentials' issuer and iss). The
	// signer's kid must be a DID URL of this DID.
	Issuer string
	// Signer returns the signer to use now; it is called for every
	// signature, so a key rotation is picked up by the next re-signing.
	Signer func() jws.Signer
	// Validity is how long a list credential is valid (validUntil -
	// validFrom), DefaultValidity by default. A list is re-signed when a
	// request finds less than half of it left.
	Validity time.Duration
	// CoalesceInterval is the minimum time between two signatures of a
	// changed list, DefaultCoalesceInterval by default. The first change
	// after a quiet period is signed at once; changes in a burst are signed
	// together at most once per interval.
	CoalesceInterval time.Duration
	// Feed, when set, receives an event for each list after it has been
	// re-signed.
	Feed *Feed
	// Shared is for Publishers of several processes on one store
	// (replicas on one database): a signed list is stored, and a process
	// serves the stored one while it carries the current bits, so that a
	// change is signed once (by one process at a time) and every process
	// serves the same credential. See signShared.
	Shared bool
}

// Publisher signs status lists as BitstringStatusListCredential vc+jwt and
// serves them. It re-signs a list after its bits change (changes coalesce),
// when it nears the end of its validity, and on first request.
type Publisher struct {
	store    *Store
	issuer   string
	signer   func() jws.Signer
	validity time.Duration
	interval time.Duration
	feed     *Feed
	shared   bool

	signatures atomic.Int64 // shared mode: signatures made here

	signMu sync.Mutex // serialises signing, so one list is never signed twice at once

	mu        sync.Mutex
	signed    map[string]*signedList
	dirty     map[string]Purpose
	scheduled bool
	lastFlush time.Time // wall clock, for coalescing
	timer     *time.Timer
	closed    bool
}

// signedList is a signed list as served.
type signedList struct {
	jwt        string
	etag       string
	signedAt   time.Time
	validUntil time.Time
}

// NewPublisher returns a Publisher for the lists of s. It registers with s
// to learn of committed changes.
func NewPublisher(s *Store, opts PublisherOptions) (*Publisher, error) {
	if s == nil {
		return nil, errors.New("statuslist: nil store")
	}
	if !strings.HasPrefix(opts.Issuer, "did:") {
		return nil, fmt.Errorf("statuslist: issuer %q is not a DID", opts.Issuer)
	}
	if opts.Signer == nil {
		return nil, errors.New("statuslist: no signer")
	}
	p := &Publisher{
		store:    s,
		issuer:   opts.Issuer,
		signer:   opts.Signer,
		validity: opts.Validity,
		interval: opts.CoalesceInterval,
		feed:     opts.Feed,
		shared:   opts.Shared,
		signed:   map[string]*signedList{},
		dirty:    map[string]Purpose{},
	}
	if p.validity == 0 {
		p.validity = DefaultValidity
	}
	if p.validity < 2*s.ttl {
		return nil, fmt.Errorf("statuslist: validity %v is under twice the ttl %v", p.validity, s.ttl)
	}
	if p.interval == 0 {
		p.interval = DefaultCoalesceInterval
	}
	if p.interval < 0 {
		return nil, errors.New("statuslist: negative coalesce interval")
	}
	s.watch(p.changed)
	return p, nil
}

// changed runs after a committed change: it marks the list dirty and
// schedules a flush, at once if the last one was more than an interval ago.
func (p *Publisher) changed(u string, purpose Purpose) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.dirty[u] = purpose
	// The old signature is never served again: a list fetched after the
	// change was acknowledged is signed afresh (current signs on demand),
	// whenever the coalesced flush runs.
	delete(p.signed, u)
	if p.scheduled {
		return
	}
	p.scheduled = true
	delay := time.Until(p.lastFlush.Add(p.interval))
	if delay < 0 {
		delay = 0
	}
	p.timer = time.AfterFunc(delay, p.flush)
}

// flush re-signs every dirty list and announces it.
func (p *Publisher) flush() {
	p.signMu.Lock()
	defer p.signMu.Unlock()
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = map[string]Purpose{}
	p.scheduled = false
	p.lastFlush = time.Now()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	for u, purpose := range dirty {
		if _, err := p.sign(u); err != nil {
			// Requests re-sign on their own and report failure as 503.
			// Drop the old signature so that no request is served a list
			// that predates the change.
			p.mu.Lock()
			delete(p.signed, u)
			p.mu.Unlock()
			continue
		}
		if p.feed != nil {
			p.feed.Publish(statuslist.Event{List: u, Purpose: purpose})
		}
	}
}

// settled reports whether every committed change has been signed: nothing
// is dirty, scheduled or being signed.
func (p *Publisher) settled() bool {
	if !p.signMu.TryLock() {
		return false
	}
	defer p.signMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.scheduled && len(p.dirty) == 0
}

// Close stops scheduled re-signing. Lists already signed are still served.
func (p *Publisher) Close() {
	p.mu.Lock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
}

// sign reads list u, signs it and stores the result. The caller holds
// signMu.
func (p *Publisher) sign(u string) (*signedList, error) {
	if p.shared {
		return p.signShared(u)
	}
	snap, err := p.store.load(context.Background(), u)
	if err != nil {
		return nil, err
	}
	now := p.store.now().UTC().Truncate(time.Second)
	until := now.Add(p.validity)
	tok, err := statuslist.SignListCredential(p.signer(), statuslist.ListCredential{
		Issuer: p.issuer, URL: u, Purpose: snap.purpose, Bits: snap.bits,
		TTL: p.store.ttl, ValidFrom: now, ValidUntil: until,
	})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(tok))
	sl := &signedList{
		jwt:        tok,
		etag:       `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`,
		signedAt:   now,
		validUntil: until,
	}
	p.mu.Lock()
	p.signed[u] = sl
	p.mu.Unlock()
	return sl, nil
}

// current returns the signed list u, signing it first when it has never
// been signed or less than half of its validity remains.
func (p *Publisher) current(u string) (*signedList, error) {
	p.mu.Lock()
	sl := p.signed[u]
	p.mu.Unlock()
	if sl != nil && p.fresh(sl) {
		return sl, nil
	}
	if sl == nil {
		// Turn away requests for lists that do not exist before queueing
		// behind signatures.
		if err := p.store.exists(context.Background(), u); err != nil {
			return nil, err
		}
	}
	p.signMu.Lock()
	defer p.signMu.Unlock()
	p.mu.Lock()
	sl = p.signed[u]
	p.mu.Unlock()
	if sl != nil && p.fresh(sl) {
		return sl, nil // signed while we waited
	}
	return p.sign(u)
}

func (p *Publisher) fresh(sl *signedList) bool {
	return sl.validUntil.Sub(p.store.now()) > p.validity/2
}

// ListCredential returns the current signed list credential at URL u.
func (p *Publisher) ListCredential(u string) (string, error) {
	sl, err := p.current(u)
	if err != nil {
		return "", err
	}
	return sl.jwt, nil
}

// ServeHTTP serves GET and HEAD /status/{purpose}/{n}: the list credential
// as application/vc+jwt with a strong ETag and Cache-Control max-age equal
// to the ttl. It reads purpose and n from the last two path segments, so it
// can be mounted under any prefix (the issuer mounts it at /status/). An
// unknown purpose or list is 404, a malformed list number 400.
func (p *Publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	i := strings.LastIndexByte(path, '/')
	j := strings.LastIndexByte(path[:max(i, 0)], '/')
	if i < 0 || j < 0 {
		http.NotFound(w, r)
		return
	}
	purpose, ns := Purpose(path[j+1:i]), path[i+1:]
	if !purpose.Valid() {
		http.NotFound(w, r)
		return
	}
	n, ok := statuslist.ParseIndex(ns)
	if !ok || uint64(n) > math.MaxUint32 {
		http.Error(w, "bad list number", http.StatusBadRequest)
		return
	}
	sl, err := p.current(p.store.ListURL(purpose, uint32(n)))
	if errors.Is(err, ErrUnknownList) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		// The store (a full disk, the database down) or the signer fails:
		// fail closed, as every other endpoint does, with the time to
		// come back.
		problem.WriteUnavailable(w, "status list unavailable; retry later")
		return
	}
	h := w.Header()
	h.Set("ETag", sl.etag)
	h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(int64(p.store.ttl/time.Second), 10)+", must-revalidate")
	h.Set("Last-Modified", sl.signedAt.Format(http.TimeFormat))
	h.Set("X-Content-Type-Options", "nosniff")
	if etagMatch(r.Header.Values("If-None-Match"), sl.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", statuslist.MediaType)
	h.Set("Content-Length", strconv.Itoa(len(sl.jwt)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(sl.jwt))
	}
}

// etagMatch implements If-None-Match: "*" or any listed tag that matches
// under weak comparison (RFC 9110, section 13.1.2).
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// Stale marks every list signed so far as changed, so that each is
// re-signed from the store and announced: for a process that may have
// missed another's announcements (its listening connection was down).
func (p *Publisher) Stale() {
	p.mu.Lock()
	us := make([]string, 0, len(p.signed))
	for u := range p.signed {
		us = append(us, u)
	}
	p.mu.Unlock()
	for _, u := range us {
		if purpose, _, err := p.store.parseListURL(u); err == nil {
			p.changed(u, purpose)
		}
	}
}
