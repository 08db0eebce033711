package statuslist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agentid/agentid/internal/strictjson"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/credcheck"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// Checker defaults.
const (
	DefaultMaxAge       = 5 * time.Minute
	DefaultMaxListBytes = 1 << 20
	DefaultClockSkew    = 60 * time.Second
	DefaultFetchTimeout = 5 * time.Second
	// DefaultRevalidate is how long a cached list is trusted without a
	// live change feed from its origin before it is revalidated.
	DefaultRevalidate = 5 * time.Second
	// DefaultMaxLists is about 17 MiB of 131,072-entry lists.
	DefaultMaxLists = 1024
	// MaxEntries bounds the credentialStatus entries one Check looks at.
	MaxEntries = 16
)

// CheckerOptions configure a Checker. Only Keys is required.
type CheckerOptions struct {
	// Client fetches lists; by default an http.Client with a 5 s timeout.
	// Its redirects are held to AllowHTTP as well.
	Client *http.Client
	// Keys resolves the kid of a list credential as an assertionMethod of
	// its issuer; did.MultiResolver implements it.
	Keys vc.KeyResolver
	// MaxAge bounds how long a list is cached, DefaultMaxAge by default. A
	// list is cached for min(its ttl, MaxAge) and never past its
	// validUntil.
	MaxAge time.Duration
	// MaxListBytes caps the size of a fetched list credential,
	// DefaultMaxListBytes by default. (The JWS codec refuses tokens over
	// jws.MaxSize in any case, which is ample for a 131,072-entry list.)
	MaxListBytes int
	// MaxDecodedBytes caps the decompressed size of a list,
	// DefaultMaxDecodedBytes by default: the GZIP bomb bound.
	MaxDecodedBytes int
	// Skew is the clock skew allowed on the list's validity period,
	// DefaultClockSkew by default.
	Skew time.Duration
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// MaxLists bounds the number of lists cached, DefaultMaxLists by
	// default; when it is reached, expired lists and then arbitrary ones
	// are dropped.
	MaxLists int
	// AllowHTTP reports whether a plain-http URL may be fetched. https is
	// always allowed, other schemes never. By default only http://localhost
	// (any port) is allowed.
	AllowHTTP func(u *url.URL) bool
	// Revalidate bounds how long a cached list is trusted while no change
	// feed of its origin is live (never subscribed, refused, or down),
	// DefaultRevalidate by default: after it, the next Check revalidates
	// the list with a conditional request (If-None-Match; a 304 keeps
	// it), so that a revocation is seen within Revalidate rather than
	// within the list's ttl. If the revalidation fails while the list is
	// within its ttl, the cached list is used and revalidated again after
	// another Revalidate. Negative: trust lists for their ttl.
	Revalidate time.Duration
	// EventsAuth, when set, is called on every request for a change feed
	// (Subscribe), to authenticate it: the issuer keeps slots for
	// subscribers that send a principal's request presentation
	// (Authorization: VP, htm GET, htu the feed's URL). An error fails
	// that connection attempt.
	EventsAuth func(ctx context.Context, req *http.Request) error
	// Observe, when set, is called with one of the Observe* events for
	// metrics: ObserveHit when a lookup is answered from the cache,
	// ObserveFetch when a fetch (or a 304 revalidation) yields a list, and
	// ObserveFetchError when a fetch fails or the list is refused. A lookup
	// that waits for another caller's fetch is counted by neither. It is
	// called synchronously, outside the Checker's locks, from concurrent
	// goroutines: it must be safe for concurrent use and quick. Nil means
	// no observer.
	Observe func(event string)
}

// Events passed to CheckerOptions.Observe.
const (
	ObserveHit        = "hit"
	ObserveFetch      = "fetch"
	ObserveFetchError = "fetch_error"
)

// Checker checks credentialStatus entries against issuers' status lists, for
// verifiers. It fetches each list once under concurrent callers, verifies
// its signature and issuer, caches the decoded bits (never a verdict), and
// fails closed: any list it cannot obtain or trust is StatusUnavailable.
// A Checker is safe for concurrent use.
type Checker struct {
	client     *http.Client
	keys       vc.KeyResolver
	maxAge     time.Duration
	maxList    int
	maxBits    int
	skew       time.Duration
	now        func() time.Time
	allowHTTP  func(*url.URL) bool
	observe    func(event string)
	reval      time.Duration
	eventsAuth func(ctx context.Context, req *http.Request) error

	maxLists int

	mu       sync.RWMutex
	cache    map[string]*cachedList
	inflight map[string]*call
	// newest is the latest validFrom accepted per list URL. It outlives
	// the cache entry (an invalidation after a revocation event drops the
	// list, not this mark), so that an older list served later is refused.
	newest map[string]time.Time
	live   map[string]int // origin → change feed streams established

	onConnect func(eventsURL string) // test hook: SSE stream established
}

// cachedList is what a Checker keeps per list: the bits and what is needed
// to check an entry against them. About 16.5 KiB for a MinSize list.
type cachedList struct {
	bits       []byte
	issuer     string
	purposes   stringOrSet
	expires    time.Time // refetch after
	validUntil time.Time // zero: none
	validFrom  time.Time
	etag       string
	ttl        time.Duration
	checked    time.Time // last fetched or revalidated
	origin     string
}

type call struct {
	done  chan struct{}
	stale bool // invalidated while in flight: do not cache the result
	l     *cachedList
	err   error
}

// NewChecker returns a Checker.
func NewChecker(opts CheckerOptions) (*Checker, error) {
	if opts.Keys == nil {
		return nil, errors.New("statuslist: checker needs a key resolver")
	}
	c := &Checker{
		client:     opts.Client,
		keys:       opts.Keys,
		maxAge:     opts.MaxAge,
		maxList:    opts.MaxListBytes,
		maxBits:    opts.MaxDecodedBytes,
		skew:       opts.Skew,
		now:        opts.Now,
		allowHTTP:  opts.AllowHTTP,
		observe:    opts.Observe,
		reval:      opts.Revalidate,
		eventsAuth: opts.EventsAuth,
		live:       map[string]int{},
		cache:      map[string]*cachedList{},
		inflight:   map[string]*call{},
		newest:     map[string]time.Time{},
		maxLists:   opts.MaxLists,
	}
	if c.maxLists <= 0 {
		c.maxLists = DefaultMaxLists
	}
	if c.reval == 0 {
		c.reval = DefaultRevalidate
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if c.maxAge <= 0 {
		c.maxAge = DefaultMaxAge
	}
	if c.maxList <= 0 {
		c.maxList = DefaultMaxListBytes
	}
	if c.maxBits <= 0 {
		c.maxBits = DefaultMaxDecodedBytes
	}
	if c.skew <= 0 {
		c.skew = DefaultClockSkew
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.allowHTTP == nil {
		c.allowHTTP = LocalhostOnly
	}
	if c.observe == nil {
		c.observe = func(string) {}
	}
	// Hold redirects to the same scheme policy as the first request.
	cl := *c.client
	next := cl.CheckRedirect
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !c.allowed(req.URL) {
			return fmt.Errorf("statuslist: redirect to %s is not allowed", req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 5 {
			return errors.New("statuslist: too many redirects")
		}
		return nil
	}
	c.client = &cl
	return c, nil
}

// LocalhostOnly allows plain http only to the host name localhost, the
// default of CheckerOptions.AllowHTTP.
func LocalhostOnly(u *url.URL) bool { return u.Hostname() == "localhost" }

func (c *Checker) allowed(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		return u.Host != "" && c.allowHTTP(u)
	}
	return false
}

func unavailable(detail string, err error) error {
	return reason.Wrap(reason.StatusUnavailable, "statuslist: "+detail, err)
}

// Check checks the status entries of a credential from issuer. It returns
// nil when no status bit is set, and otherwise a *reason.Error:
//
//   - reason.Revoked: a revocation bit is set (it wins over the others);
//   - reason.Suspended: a suspension bit is set;
//   - reason.StatusUnavailable: a list could not be fetched or trusted (bad
//     signature, issuer other than the credential's, expired, statusPurpose
//     not the entry's, index out of range, over a size limit, ...), or an
//     entry has a statusPurpose other than revocation or suspension;
//   - reason.Malformed: an entry itself is broken (type is not
//     BitstringStatusListEntry, statusListIndex not a decimal, no list URL),
//     or there are more than MaxEntries.
//
// Unknown purposes fail closed rather than being ignored, as the
// specification would allow: agentid credentials carry only revocation and
// suspension, so anything else is a credential this verifier cannot fully
// check. A credential with no entries passes; whether status is required is
// the caller's policy.
//
// Check reads the bits on every call; only the decoded list is cached.
func (c *Checker) Check(ctx context.Context, issuer string, entries []vc.StatusEntry) error {
	if len(entries) > MaxEntries {
		return reason.New(reason.Malformed, "statuslist: too many credentialStatus entries")
	}
	var first error
	suspended := false
	for i := range entries {
		e := &entries[i]
		set, err := c.checkEntry(ctx, issuer, e)
		switch {
		case err != nil:
			if first == nil {
				first = err
			}
		case set && e.StatusPurpose == string(Revocation):
			return reason.New(reason.Revoked, "statuslist: revocation bit is set in "+e.StatusListCredential)
		case set:
			suspended = true
		}
	}
	if suspended {
		return reason.New(reason.Suspended, "statuslist: suspension bit is set")
	}
	return first
}

// checkEntry reads one entry's bit.
func (c *Checker) checkEntry(ctx context.Context, issuer string, e *vc.StatusEntry) (bool, error) {
	if e.Type != EntryType {
		return false, reason.New(reason.Malformed, "statuslist: credentialStatus type is not "+EntryType)
	}
	idx, ok := ParseIndex(e.StatusListIndex)
	if !ok {
		return false, reason.New(reason.Malformed, "statuslist: statusListIndex is not a decimal integer")
	}
	if e.StatusListCredential == "" {
		return false, reason.New(reason.Malformed, "statuslist: entry has no statusListCredential")
	}
	if !Purpose(e.StatusPurpose).Valid() {
		return false, unavailable(fmt.Sprintf("statusPurpose %.40q is not one this verifier checks", e.StatusPurpose), nil)
	}
	l, err := c.list(ctx, e.StatusListCredential)
	if err != nil {
		return false, err
	}
	if l.issuer != issuer {
		return false, unavailable("list "+e.StatusListCredential+" is not from the credential's issuer", nil)
	}
	if !l.purposes.has(e.StatusPurpose) {
		return false, unavailable("list "+e.StatusListCredential+" is not a "+e.StatusPurpose+" list", nil)
	}
	if idx >= len(l.bits)*8 {
		return false, unavailable("statusListIndex is out of the list's range", nil)
	}
	return getBit(l.bits, idx), nil
}

// list returns the cached list at u, fetching it (once, however many
// callers ask) when it is absent or stale.
func (c *Checker) list(ctx context.Context, u string) (*cachedList, error) {
	now := c.now()
	c.mu.RLock()
	l := c.cache[u]
	fresh := l != nil && c.freshLocked(l, now)
	c.mu.RUnlock()
	if fresh {
		c.observe(ObserveHit)
		return l, nil
	}
	c.mu.Lock()
	if l = c.cache[u]; l != nil && c.freshLocked(l, now) {
		c.mu.Unlock()
		c.observe(ObserveHit)
		return l, nil
	}
	cl := c.inflight[u]
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		c.inflight[u] = cl
		prev := l
		c.mu.Unlock()
		go c.fetch(ctx, u, prev, cl)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-cl.done:
		return cl.l, cl.err
	case <-ctx.Done():
		return nil, unavailable("status list fetch abandoned", ctx.Err())
	}
}

// freshLocked reports whether l may be used without asking its server:
// within its expiry, and either revalidated within the last Revalidate or
// followed by a live change feed. The caller holds c.mu.
func (c *Checker) freshLocked(l *cachedList, now time.Time) bool {
	if !now.Before(l.expires) {
		return false
	}
	return c.reval < 0 || now.Before(l.checked.Add(c.reval)) || c.live[l.origin] > 0
}

// fetch runs one fetch for every caller waiting on cl. It is detached from
// the first caller's cancellation, so that one impatient caller does not
// fail the others, and bounded by the client's timeout.
func (c *Checker) fetch(ctx context.Context, u string, prev *cachedList, cl *call) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout())
	defer cancel()
	l, err := c.fetchList(fctx, u, prev)
	if err != nil && prev != nil {
		if now := c.now(); now.Before(prev.expires) && c.checkWindow(prev, now) == nil {
			// A revalidation failed while the list is within its ttl:
			// keep it (as a Checker without revalidation would) and try
			// again after another Revalidate.
			c.observe(ObserveFetchError)
			kept := *prev
			kept.checked = now
			l, err = &kept, nil
		}
	}
	c.mu.Lock()
	if err == nil {
		err = c.checkNewest(u, l)
	}
	if err == nil && !cl.stale {
		c.store(u, l)
	}
	if c.inflight[u] == cl {
		delete(c.inflight, u)
	}
	c.mu.Unlock()
	if err != nil {
		c.observe(ObserveFetchError)
	} else {
		c.observe(ObserveFetch)
	}
	cl.l, cl.err = l, err
	close(cl.done)
}

func (c *Checker) fetchTimeout() time.Duration {
	if c.client.Timeout > 0 {
		return c.client.Timeout
	}
	return DefaultFetchTimeout
}

// checkNewest refuses a list older than the newest this Checker accepted
// for u: an attacker who can answer for the list's URL (or a shared cache
// holding a stale copy) must not undo a revocation by serving the list
// signed before it. A list with the same validFrom is accepted (a re-serve
// of the same list). On refusal the newer cached list, if any, is kept. The
// marks are bounded by four times MaxLists; beyond that arbitrary ones are
// forgotten. The caller holds c.mu.
func (c *Checker) checkNewest(u string, l *cachedList) error {
	if mark, ok := c.newest[u]; ok {
		if l.validFrom.Before(mark) {
			return unavailable(fmt.Sprintf("list validFrom %s is older than %s, already seen (rollback refused)",
				l.validFrom.UTC().Format(time.RFC3339), mark.UTC().Format(time.RFC3339)), nil)
		}
		if !l.validFrom.After(mark) {
			return nil
		}
	} else if len(c.newest) >= 4*c.maxLists {
		for k := range c.newest {
			if _, cached := c.cache[k]; !cached {
				delete(c.newest, k)
				break
			}
		}
		if len(c.newest) >= 4*c.maxLists {
			for k := range c.newest {
				delete(c.newest, k)
				break
			}
		}
	}
	c.newest[u] = l.validFrom
	return nil
}

// store caches l under u, making room if the cache is full. The caller
// holds c.mu.
func (c *Checker) store(u string, l *cachedList) {
	if _, ok := c.cache[u]; !ok && len(c.cache) >= c.maxLists {
		now := c.now()
		for k, v := range c.cache {
			if !now.Before(v.expires) {
				delete(c.cache, k)
			}
		}
		for k := range c.cache {
			if len(c.cache) < c.maxLists {
				break
			}
			delete(c.cache, k) // map order is random enough for this
		}
	}
	c.cache[u] = l
}

// Invalidate drops list u from the cache; the next Check fetches it again.
// A fetch already under way when Invalidate is called is not cached, and
// callers that arrive after it start a new one.
func (c *Checker) Invalidate(u string) {
	c.mu.Lock()
	c.invalidateLocked(u)
	c.mu.Unlock()
}

func (c *Checker) invalidateLocked(u string) {
	delete(c.cache, u)
	if cl := c.inflight[u]; cl != nil {
		cl.stale = true
		delete(c.inflight, u)
	}
}

// invalidateOrigin drops every cached list whose URL has the given origin.
func (c *Checker) invalidateOrigin(origin string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for u := range c.cache {
		if originOf(u) == origin {
			c.invalidateLocked(u)
		}
	}
	for u := range c.inflight {
		if originOf(u) == origin {
			c.invalidateLocked(u)
		}
	}
}

// originOf returns scheme://host[:port] of u, or "" if u does not parse.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return strings.ToLower(p.Scheme) + "://" + strings.ToLower(p.Host)
}

// fetchList fetches, verifies and decodes list u. With prev it makes a
// conditional request, and a 304 renews prev.
func (c *Checker) fetchList(ctx context.Context, u string, prev *cachedList) (*cachedList, error) {
	pu, err := url.Parse(u)
	if err != nil || !c.allowed(pu) || pu.User != nil {
		return nil, unavailable("list URL is not an allowed https (or local http) URL", nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, unavailable("bad list URL", err)
	}
	req.Header.Set("Accept", MediaType)
	if prev != nil && prev.etag != "" {
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, unavailable("fetch "+pu.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && prev != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return c.renew(prev)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, unavailable(fmt.Sprintf("fetch %s: HTTP %d", pu.Redacted(), resp.StatusCode), nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxList)+1))
	if err != nil {
		return nil, unavailable("read "+pu.Redacted(), err)
	}
	if len(body) > c.maxList {
		return nil, unavailable(fmt.Sprintf("list credential is over %d bytes", c.maxList), nil)
	}
	l, err := c.parseList(ctx, u, string(bytes.TrimSpace(body)))
	if err != nil {
		return nil, err
	}
	l.etag = resp.Header.Get("ETag")
	return l, nil
}

// renew extends a list the server says is unchanged.
func (c *Checker) renew(prev *cachedList) (*cachedList, error) {
	l := *prev
	now := c.now()
	if err := c.checkWindow(&l, now); err != nil {
		return nil, err
	}
	l.expires = c.expiry(now, l.ttl, l.validUntil)
	l.checked = now
	return &l, nil
}

func (c *Checker) checkWindow(l *cachedList, now time.Time) error {
	var from, until *time.Time
	if !l.validFrom.IsZero() {
		from = &l.validFrom
	}
	if !l.validUntil.IsZero() {
		until = &l.validUntil
	}
	if err := credcheck.CheckWindow(now, c.skew, from, until, 0); err != nil {
		return unavailable("list credential is outside its validity period", err)
	}
	return nil
}

func (c *Checker) expiry(now time.Time, ttl time.Duration, validUntil time.Time) time.Time {
	age := c.maxAge
	if ttl >= 0 && ttl < age {
		age = ttl
	}
	exp := now.Add(age)
	if !validUntil.IsZero() && validUntil.Before(exp) {
		exp = validUntil
	}
	return exp
}

// listNames are the members of a list credential (vc.Issuer decodes
// {"id", "name"} itself).
var listNames = strictjson.NewVocab(listCredential{}).With("id", "name")

// parseList verifies and decodes a list credential fetched from u.
func (c *Checker) parseList(ctx context.Context, u, token string) (*cachedList, error) {
	t, err := vc.VerifyJWT(ctx, token, vc.TypCredential, c.keys, did.AssertionMethod)
	if err != nil {
		return nil, unavailable("list credential does not verify", err)
	}
	if err := strictjson.Check(t.Payload, listNames); err != nil {
		return nil, unavailable("list credential is ambiguous JSON", reason.Wrap(reason.Malformed, "", err))
	}
	var lc listCredential
	if err := json.Unmarshal(t.Payload, &lc); err != nil {
		return nil, unavailable("list credential is not valid JSON", reason.Wrap(reason.Malformed, "", err))
	}
	bad := func(detail string, err error) (*cachedList, error) {
		return nil, unavailable("list credential: "+detail, err)
	}
	if err := credcheck.CheckBase(lc.Context, lc.Type, vc.TypeVerifiableCredential); err != nil {
		return bad("not a VC 2.0 credential", err)
	}
	if !vc.HasType(lc.Type, TypeListCredential) {
		return bad("type does not include "+TypeListCredential, nil)
	}
	if err := credcheck.CheckClaims((*credcheck.Claims)(&lc.Claims), lc.Issuer.ID, "", lc.ID, lc.ValidFrom, lc.ValidUntil); err != nil {
		return bad("registered claims", err)
	}
	kd, err := jws.KidDID(t.Header.Kid)
	if err != nil || kd != lc.Issuer.ID {
		return bad("signed by a key that is not the issuer's", err)
	}
	if lc.ID != u {
		// A list served at the wrong URL, even the issuer's own other list,
		// would put the bits of one list under another's indexes.
		return bad("id is not the URL it was fetched from", nil)
	}
	s := &lc.CredentialSubject
	if !s.Type.has(TypeList) {
		return bad("credentialSubject type is not "+TypeList, nil)
	}
	if len(s.StatusPurpose) == 0 {
		return bad("no statusPurpose", nil)
	}
	if s.StatusSize != nil && *s.StatusSize != 1 {
		return bad("statusSize other than 1 is not supported", nil)
	}
	ttl := time.Duration(-1)
	if s.TTL != nil {
		if *s.TTL < 0 {
			return bad("negative ttl", nil)
		}
		ttl = time.Duration(min(*s.TTL, int64(c.maxAge/time.Millisecond))) * time.Millisecond
	}
	bits, err := Decode(s.EncodedList, c.maxBits)
	if err != nil {
		return bad("encodedList", err)
	}
	l := &cachedList{
		bits:     bits.b,
		issuer:   lc.Issuer.ID,
		purposes: s.StatusPurpose,
		ttl:      ttl,
		origin:   originOf(u),
	}
	if lc.ValidFrom != nil {
		l.validFrom = *lc.ValidFrom
	}
	if lc.ValidUntil != nil {
		l.validUntil = *lc.ValidUntil
	}
	now := c.now()
	if err := c.checkWindow(l, now); err != nil {
		return nil, err
	}
	l.expires = c.expiry(now, ttl, l.validUntil)
	l.checked = now
	return l, nil
}
