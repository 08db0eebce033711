package did

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for [WebOptions].
const (
	DefaultWebTimeout   = 5 * time.Second
	DefaultWebMaxBytes  = 64 << 10
	DefaultWebCacheTTL  = 5 * time.Minute
	DefaultWebCacheSize = 256
	// DefaultWebNegativeTTL is how long a failed fetch is remembered.
	DefaultWebNegativeTTL = 30 * time.Second
	// DefaultWebMaxFetches bounds concurrent fetches, in all and per host.
	DefaultWebMaxFetches        = 16
	DefaultWebMaxFetchesPerHost = 2
)

// maxRedirects is how many redirects the default client follows.
const maxRedirects = 3

// WebOptions configures a [WebResolver]. The zero value is usable: every
// zero field takes its documented default.
type WebOptions struct {
	// Client performs the fetches. Default: a client that times out after
	// Timeout, connects directly (no proxy) and only to public addresses
	// (see AllowHosts), checked at dial time so that DNS rebinding cannot
	// get around it. Whatever the client, at most 3 redirects are followed,
	// only to the same host and never from https to http. A custom
	// client's dialing is the caller's responsibility: the address checks
	// apply to the default client only.
	Client *http.Client
	// Timeout bounds each fetch, whatever the client. Default 5s.
	Timeout time.Duration
	// MaxBytes is the largest document accepted. Default 64 KiB.
	MaxBytes int64
	// CacheTTL is how long a fetched document is reused. Default 5m;
	// negative disables caching.
	CacheTTL time.Duration
	// NegativeTTL is how long a failed fetch is remembered: within it,
	// resolving the same DID fails at once without a connection. Default
	// 30s; negative disables it.
	NegativeTTL time.Duration
	// CacheSize bounds the number of cached documents, and of remembered
	// failures. Default 256.
	CacheSize int
	// MaxFetches and MaxFetchesPerHost bound fetches in flight, in all and
	// per host (default 16 and 2). A resolution that would exceed them
	// fails at once: a slow or silent host cannot tie up more.
	MaxFetches, MaxFetchesPerHost int
	// AllowHosts lists host names (lower case, without port) that the
	// default client may reach at loopback, private, link-local,
	// unspecified or multicast addresses; every other host must resolve to
	// public addresses. AllowHTTPLocalhost adds "localhost".
	AllowHosts []string
	// AllowHTTPLocalhost fetches documents of did:web:localhost (any port)
	// over plain http, and lets the default client reach localhost. Meant
	// for local development only; no other host can be fetched over http.
	AllowHTTPLocalhost bool
	// Now is the clock used for cache expiry. Default time.Now.
	Now func() time.Time
}

// WebResolver fetches did:web documents over HTTPS. It caches documents
// for CacheTTL, coalesces concurrent fetches of the same DID into one, and
// refuses responses that are not 200, not JSON, larger than MaxBytes, or
// whose id is not the requested DID. It is safe for concurrent use.
type WebResolver struct {
	client    *http.Client
	timeout   time.Duration
	maxBytes  int64
	ttl       time.Duration
	size      int
	allowHTTP bool
	now       func() time.Time
	negTTL    time.Duration
	maxTotal  int
	maxHost   int
	allowed   map[string]bool // hosts that may have non-public addresses

	mu       sync.Mutex
	cache    map[string]cacheEntry
	failed   map[string]failEntry
	calls    map[string]*call
	inflight int
	perHost  map[string]int
}

type failEntry struct {
	err     *ResolutionError
	expires time.Time
}

type cacheEntry struct {
	doc     *Document
	expires time.Time
}

// call is one in-flight fetch that concurrent Resolve calls wait on.
type call struct {
	done chan struct{}
	doc  *Document
	err  error
}

// NewWebResolver returns a WebResolver configured by opts.
func NewWebResolver(opts WebOptions) *WebResolver {
	r := &WebResolver{
		client:    opts.Client,
		timeout:   opts.Timeout,
		maxBytes:  opts.MaxBytes,
		ttl:       opts.CacheTTL,
		size:      opts.CacheSize,
		allowHTTP: opts.AllowHTTPLocalhost,
		now:       opts.Now,
		negTTL:    opts.NegativeTTL,
		maxTotal:  opts.MaxFetches,
		maxHost:   opts.MaxFetchesPerHost,
		allowed:   make(map[string]bool),
		cache:     make(map[string]cacheEntry),
		failed:    make(map[string]failEntry),
		calls:     make(map[string]*call),
		perHost:   make(map[string]int),
	}
	for _, h := range opts.AllowHosts {
		r.allowed[strings.ToLower(h)] = true
	}
	if r.allowHTTP {
		r.allowed["localhost"] = true
	}
	if r.negTTL == 0 {
		r.negTTL = DefaultWebNegativeTTL
	}
	if r.maxTotal <= 0 {
		r.maxTotal = DefaultWebMaxFetches
	}
	if r.maxHost <= 0 {
		r.maxHost = DefaultWebMaxFetchesPerHost
	}
	if r.timeout <= 0 {
		r.timeout = DefaultWebTimeout
	}
	if r.maxBytes <= 0 {
		r.maxBytes = DefaultWebMaxBytes
	}
	if r.ttl == 0 {
		r.ttl = DefaultWebCacheTTL
	}
	if r.size <= 0 {
		r.size = DefaultWebCacheSize
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: r.timeout, Transport: &http.Transport{
			Proxy:                 nil, // a proxy would be the only address checked
			DialContext:           r.dial,
			TLSHandshakeTimeout:   r.timeout,
			ResponseHeaderTimeout: r.timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}}
	} else {
		c := *r.client
		r.client = &c
	}
	next := r.client.CheckRedirect
	r.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return r
}

// checkRedirect follows a few redirects, only to the same host (and port)
// and never downgrading from https.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errors.New("too many redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("redirect from https to " + req.URL.Scheme)
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		return fmt.Errorf("redirect to another host (%s)", trunc(req.URL.Host))
	}
	return nil
}

// dial connects to addr; unless its host is allowed, only to a public
// address, checked on the address actually dialled (after DNS).
func (r *WebResolver) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: r.timeout}
	if !r.allowed[strings.ToLower(host)] {
		d.Control = publicOnly
	}
	return d.DialContext(ctx, network, addr)
}

// nonPublic are IPv4 ranges refused beside those netip classifies:
// "this network", shared address space (CGNAT) and benchmarking.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("198.18.0.0/15"),
}

// publicOnly is a net.Dialer Control function that refuses loopback,
// private, link-local, unspecified and multicast addresses.
func publicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("did:web: dial %q: not an IP address", address)
	}
	ip = ip.Unmap()
	bad := ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
	for _, p := range nonPublic {
		bad = bad || p.Contains(ip)
	}
	if bad {
		return fmt.Errorf("did:web: address %s is not public (allow the host explicitly to reach it)", ip)
	}
	return nil
}

// Resolve returns the DID document of a did:web DID, from the cache or by
// fetching it. If ctx ends first, Resolve returns early, but a fetch it
// started runs on (within Timeout) for the benefit of other callers and the
// cache.
func (r *WebResolver) Resolve(ctx context.Context, did string) (*Document, error) {
	w, perr := parseWeb(did)
	if perr != nil {
		return nil, perr
	}
	scheme := "https"
	if r.allowHTTP && w.host == "localhost" {
		scheme = "http"
	}
	docURL := w.url(scheme)

	r.mu.Lock()
	now := r.now()
	if e, ok := r.cache[did]; ok {
		if now.Before(e.expires) {
			r.mu.Unlock()
			return e.doc, nil
		}
		delete(r.cache, did)
	}
	if f, ok := r.failed[did]; ok {
		if now.Before(f.expires) {
			r.mu.Unlock()
			return nil, f.err
		}
		delete(r.failed, did)
	}
	c, ok := r.calls[did]
	if !ok {
		if r.inflight >= r.maxTotal || r.perHost[w.host] >= r.maxHost {
			r.mu.Unlock()
			return nil, fail(CodeInternalError, did, "too many did:web fetches in flight")
		}
		r.inflight++
		r.perHost[w.host]++
		c = &call{done: make(chan struct{})}
		r.calls[did] = c
		go r.run(context.WithoutCancel(ctx), did, w.host, docURL, c)
	}
	r.mu.Unlock()

	select {
	case <-c.done:
		if c.err != nil {
			return nil, c.err
		}
		return c.doc, nil
	case <-ctx.Done():
		return nil, failWrap(CodeInternalError, did, ctx.Err())
	}
}

// ResolveKey resolves kid's DID and returns the key via
// [Document.PublicKey].
func (r *WebResolver) ResolveKey(ctx context.Context, kid string, rel Relationship) (crypto.PublicKey, error) {
	did, frag, ok := strings.Cut(kid, "#")
	if !ok || frag == "" {
		return nil, fail(CodeInvalidDID, kid, "key ID is not a DID URL with a fragment")
	}
	doc, err := r.Resolve(ctx, did)
	if err != nil {
		return nil, err
	}
	return doc.PublicKey(kid, rel)
}

// Invalidate drops did from the cache, so that the next Resolve fetches
// it again (after a key rotation, for example). A fetch in flight is not
// stopped, but its result is not cached.
func (r *WebResolver) Invalidate(did string) {
	r.mu.Lock()
	delete(r.cache, did)
	delete(r.failed, did)
	delete(r.calls, did)
	r.mu.Unlock()
}

// run performs one fetch and publishes the result to c and the cache.
func (r *WebResolver) run(ctx context.Context, did, host, docURL string, c *call) {
	doc, err := r.fetch(ctx, did, docURL)
	r.mu.Lock()
	r.inflight--
	if r.perHost[host]--; r.perHost[host] <= 0 {
		delete(r.perHost, host)
	}
	if r.calls[did] == c { // Not invalidated meanwhile.
		delete(r.calls, did)
		if err == nil && r.ttl > 0 {
			r.store(did, doc)
		}
		if err != nil && r.negTTL > 0 {
			r.storeFailure(did, err)
		}
	}
	r.mu.Unlock()
	if err != nil {
		c.err = err // A non-nil *ResolutionError, never a typed nil.
	}
	c.doc = doc
	close(c.done)
}

// store caches doc, evicting expired entries and then the entry closest to
// expiry when the cache is full. r.mu must be held.
func (r *WebResolver) store(did string, doc *Document) {
	now := r.now()
	if _, ok := r.cache[did]; !ok && len(r.cache) >= r.size {
		var oldest string
		var oldestExp time.Time
		for k, e := range r.cache {
			if !now.Before(e.expires) {
				delete(r.cache, k)
				continue
			}
			if oldest == "" || e.expires.Before(oldestExp) {
				oldest, oldestExp = k, e.expires
			}
		}
		if len(r.cache) >= r.size {
			delete(r.cache, oldest)
		}
	}
	r.cache[did] = cacheEntry{doc: doc, expires: now.Add(r.ttl)}
}

// storeFailure remembers a failed fetch for the negative TTL, within the
// same bound as the document cache. r.mu must be held.
func (r *WebResolver) storeFailure(did string, err *ResolutionError) {
	now := r.now()
	if _, ok := r.failed[did]; !ok && len(r.failed) >= r.size {
		for k, f := range r.failed {
			if !now.Before(f.expires) {
				delete(r.failed, k)
			}
		}
		for k := range r.failed {
			if len(r.failed) < r.size {
				break
			}
			delete(r.failed, k)
		}
	}
	r.failed[did] = failEntry{err: err, expires: now.Add(r.negTTL)}
}

func (r *WebResolver) fetch(ctx context.Context, did, docURL string) (*Document, *ResolutionError) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, docURL, nil)
	if err != nil {
		return nil, failWrap(CodeInternalError, did, err)
	}
	req.Header.Set("Accept", "application/did+json, application/did+ld+json, application/json;q=0.9")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, failWrap(CodeInternalError, did, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return nil, fail(CodeNotFound, did, "HTTP status %d", resp.StatusCode)
	default:
		return nil, fail(CodeInternalError, did, "unexpected HTTP status %d", resp.StatusCode)
	}
	if !isJSONContentType(resp.Header.Get("Content-Type")) {
		return nil, fail(CodeInvalidDIDDocument, did, "content type %q is not JSON", trunc(resp.Header.Get("Content-Type")))
	}
	if resp.ContentLength > r.maxBytes {
		return nil, fail(CodeInvalidDIDDocument, did, "document is %d bytes, over the %d byte limit", resp.ContentLength, r.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBytes+1))
	if err != nil {
		return nil, failWrap(CodeInternalError, did, err)
	}
	if int64(len(body)) > r.maxBytes {
		return nil, fail(CodeInvalidDIDDocument, did, "document is over the %d byte limit", r.maxBytes)
	}
	doc, perr := parseDocument(body, r.maxBytes)
	if perr != nil {
		perr.DID = did
		return nil, perr
	}
	if doc.ID != did {
		return nil, fail(CodeInvalidDIDDocument, did, "document id %s is not the requested DID", quoteTrunc(doc.ID))
	}
	return doc, nil
}

// isJSONContentType accepts application/json, application/did+json,
// application/did+ld+json, application/ld+json and other +json types.
func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}
