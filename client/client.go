package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/reason"
)

// MaxResponseBytes bounds a JSON answer the client reads.
const MaxResponseBytes = 64 << 20

// maxProblemBytes bounds an error answer the client reads.
const maxProblemBytes = 64 << 10

// Client calls an agentid server. It is safe for concurrent use.
type Client struct {
	server string
	key    *Key
	http   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with a 30 s timeout).
// Its Timeout bounds each request: a call, or each page of a call that
// pages (Agents, EachAgent, AuditTail, AuditExport), which can therefore
// last longer in all. The approval feed (ApprovalEvents) lasts until its
// context ends, and a long poll (Approval with a wait, WaitApproval) is
// bounded from the end of the wait.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client for the server at base URL server, authenticating
// with key, a registered principal's key; key may be nil for the public
// endpoints (Nonce, Verify) and Refresh.
func New(server string, key *Key, opts ...Option) *Client {
	c := &Client{server: strings.TrimSuffix(server, "/"), key: key, http: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Server returns the server's base URL, without a trailing slash: the
// audience of the client's presentations.
func (c *Client) Server() string { return c.server }

// Key returns the principal key the client signs with (nil if none).
func (c *Client) Key() *Key { return c.key }

// Error is an error answer from the server: RFC 9457 problem details with
// agentid's code.
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code is the problem's code: an api.Code* constant or a reason code
	// (or the HTTP status text when the answer had none).
	Code string
	// Detail is a short explanation for people; it may be empty.
	Detail string
	// RetryAfter is the answer's Retry-After (429 rate_limited, 503
	// unavailable): how long to wait before the same request may succeed.
	// Zero when the answer had none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s (HTTP %d)", e.Code, e.StatusCode)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is the reason code of the error, so that
// errors.Is(err, reason.Revoked) holds for a refresh refused as revoked.
func (e *Error) Is(target error) bool {
	c, ok := target.(reason.Code)
	return ok && string(c) == e.Code
}

// Do sends a request to path (with its query, if any), authenticated by a
// presentation of the client's key when it has one. in, when not nil, is
// sent as JSON; out, when not nil, receives the JSON answer. It is the
// escape hatch for endpoints without a typed method.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, c.key, "", method, path, in, out)
}

// do sends a request signed by key (none when nil), enveloping credential
// when not empty.
func (c *Client) do(ctx context.Context, key *Key, credential, method, path string, in, out any) error {
	return c.doWith(ctx, c.http, key, credential, method, path, in, out)
}

// doWith is do through the HTTP client hc.
func (c *Client) doWith(ctx context.Context, hc *http.Client, key *Key, credential, method, path string, in, out any) error {
	resp, err := c.sendWith(ctx, hc, key, credential, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	rb, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("reading the answer from %s: %w", path, err)
	}
	if len(rb) > MaxResponseBytes {
		return fmt.Errorf("the answer from %s is over %d bytes", path, MaxResponseBytes)
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("unexpected answer from %s: %v", path, err)
	}
	return nil
}

// send sends a request and returns a successful response, whose body the
// caller closes, or the error answer as an *Error.
func (c *Client) send(ctx context.Context, key *Key, credential, method, path string, in any) (*http.Response, error) {
	return c.sendWith(ctx, c.http, key, credential, method, path, in)
}

// untimed is the client's HTTP client without its overall Timeout, for
// requests meant to outlast it — a long poll, a stream — which their
// context bounds instead.
func (c *Client) untimed() *http.Client {
	if c.http.Timeout == 0 {
		return c.http
	}
	hc := *c.http
	hc.Timeout = 0
	return &hc
}

// longPoll returns the context and HTTP client for a request that the
// server may hold for wait: the client's timeout counts from the end of
// the wait rather than from the start of the request.
func (c *Client) longPoll(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc, *http.Client) {
	if wait <= 0 || c.http.Timeout == 0 {
		return ctx, func() {}, c.http
	}
	ctx, cancel := context.WithTimeout(ctx, wait+c.http.Timeout)
	return ctx, cancel, c.untimed()
}

// sendWith is send through the HTTP client hc.
func (c *Client) sendWith(ctx context.Context, hc *http.Client, key *Key, credential, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	var raw []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("client: encoding the request to %s: %w", path, err)
		}
		body, raw = bytes.NewReader(b), b
	}
	u := c.server + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != nil {
		htu, _, _ := strings.Cut(u, "?")
		tok, err := key.Present(PresentOptions{Credential: credential, Audience: c.server, Method: method, URL: htu,
			BodyDigest: BodyDigest(raw)})
		if err != nil {
			return nil, fmt.Errorf("client: signing the request presentation: %w", err)
		}
		req.Header.Set("Authorization", "VP "+tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

// readError turns an error answer into an *Error.
func readError(resp *http.Response) error {
	e := &Error{StatusCode: resp.StatusCode}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		e.RetryAfter = time.Duration(n) * time.Second
	}
	var p api.Problem
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	if json.Unmarshal(rb, &p) == nil && p.Code != "" {
		e.Code, e.Detail = p.Code, p.Detail
	} else {
		e.Code = http.StatusText(resp.StatusCode)
	}
	return e
}

// errNoKey is returned by calls that need a key when the client has none.
var errNoKey = errors.New("client: this call needs a principal key")
