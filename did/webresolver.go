package did

import (
	"context"
	"crypto"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults for [WebOptions].
const (
	DefaultWebTimeout   = 5 * time.Second
	DefaultWebMaxBytes  = 64 << 10
	DefaultWebCacheTTL  = 5 * time.Minute
	DefaultWebCacheSize = 256
)

// maxRedirects is how many redirects the default client follows.
const maxRedirects = 3

// WebOptions configures a [WebResolver]. The zero value is usable: every
// zero field takes its documented default.
type WebOptions struct {
	// Client performs the fetches. Default: a client that times out after
	// Timeout and follows at most 3 redirects, never from https to http.
	// A custom client's redirect policy is the caller's responsibility;
	// whatever the client does, the document's id must equal the DID.
	Client *http.Client
	// Timeout bounds each fetch, whatever the client. Default 5s.
	Timeout time.Duration
	// MaxBytes is the largest document accepted. Default 64 KiB.
	MaxBytes int64
	// CacheTTL is how long a fetched document is reused. Default 5m;
	// negative disables caching. Failures are never cached.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached documents. Default 256.
	CacheSize int
	// AllowHTTPLocalhost fetches documents of did:web:localhost (any port)
	// over plain http. Meant for local development only; no other host can
	// be fetched over http.
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

	mu    sync.Mutex
	cache map[string]cacheEntry
	calls map[string]*call
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
		cache:     make(map[string]cacheEntry),
		calls:     make(map[string]*call),
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
		r.client = &http.Client{Timeout: r.timeout, CheckRedirect: checkRedirect}
	}
	return r
}

// checkRedirect follows a few redirects, never downgrading from https.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errors.New("too many redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("redirect from https to " + req.URL.Scheme)
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
	if e, ok := r.cache[did]; ok {
		if r.now().Before(e.expires) {
			r.mu.Unlock()
			return e.doc, nil
		}
		delete(r.cache, did)
	}
	c, ok := r.calls[did]
	if !ok {
		c = &call{done: make(chan struct{})}
		r.calls[did] = c
		go r.run(context.WithoutCancel(ctx), did, docURL, c)
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
	delete(r.calls, did)
	r.mu.Unlock()
}

// run performs one fetch and publishes the result to c and the cache.
func (r *WebResolver) run(ctx context.Context, did, docURL string, c *call) {
	doc, err := r.fetch(ctx, did, docURL)
	r.mu.Lock()
	if r.calls[did] == c { // Not invalidated meanwhile.
		delete(r.calls, did)
		if err == nil && r.ttl > 0 {
			r.store(did, doc)
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
