package console_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/console"
	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/reason"
)

// clock is a settable clock for the whole server (issuer, verifier,
// console): real time plus an offset.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// env is a real agentid server (bbolt store, keystore, audit log, status
// lists and feed) serving the console on a loopback port.
type env struct {
	t    testing.TB
	dir  string
	addr string
	url  string
	// issuer is the issuer URL the server is configured with: url, or
	// its https form when https is set (the test still talks plain http
	// to the listener; only the cookie and header rules differ).
	issuer string
	https  bool
	clock  *clock
	app    *server.App
	srv    *http.Server
	admin  *client.Key
	// adminClient calls the API as the first admin.
	adminClient *client.Client
}

func newEnv(t testing.TB) *env { return newEnvWith(t, false) }

func newEnvWith(t testing.TB, https bool) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", clock: &clock{}, https: https}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start opens the data directory and serves it; after stop, start serves
// the same directory on the same address again (a restart).
func (e *env) start() {
	t := e.t
	t.Helper()
	ln, err := net.Listen("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.url = "http://localhost:" + strings.Split(e.addr, ":")[1]
	e.issuer = e.url
	if e.https {
		e.issuer = "https://" + strings.TrimPrefix(e.url, "http://")
	}
	t.Setenv("AGENTID_MASTER_KEY", "")
	e.app, err = server.Open(context.Background(), server.Config{DataDir: e.dir, IssuerURL: e.issuer, AllowHTTPLocalhost: true, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(e.app, server.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = &http.Server{Handler: s.Handler()}
	go e.srv.Serve(ln)
	if e.admin, err = client.LoadKey(filepath.Join(e.dir, server.AdminKeyFile)); err != nil {
		t.Fatal(err)
	}
	e.adminClient = client.New(e.url, e.admin)
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.app.Close()
	e.srv = nil
}

func newKey(t testing.TB) *client.Key {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := client.KeyFromSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// addOrchestrator registers an orchestrator and returns its key.
func (e *env) addOrchestrator(name string) *client.Key {
	e.t.Helper()
	k := newKey(e.t)
	if _, err := e.adminClient.AddPrincipal(context.Background(), api.Principal{DID: k.DID, Role: "orchestrator", Name: name,
		Ceiling: []string{"calendar:*"}}); err != nil {
		e.t.Fatal(err)
	}
	return k
}

// issue registers a new agent through the API as the principal of key.
func (e *env) issue(key *client.Key, owner, purpose string) (*client.Key, *api.Issued) {
	e.t.Helper()
	return e.issueScopes(key, owner, purpose, "calendar:read")
}

func (e *env) issueScopes(key *client.Key, owner, purpose string, scopes ...string) (*client.Key, *api.Issued) {
	e.t.Helper()
	cl := client.New(e.url, key)
	agent := newKey(e.t)
	proof, err := cl.Proof(context.Background(), agent)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := cl.Issue(context.Background(), api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: scopes,
		Audiences: []string{"https://calendar.example.com"}, Owner: owner, Purpose: purpose})
	if err != nil {
		e.t.Fatal(err)
	}
	return agent, out
}

// verify asks the verifier service about a fresh presentation of cred.
func (e *env) verify(agent *client.Key, cred string) api.VerifyResponse {
	e.t.Helper()
	vp, err := agent.Present(client.PresentOptions{Credential: cred, Audience: "https://calendar.example.com", Now: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	var res api.VerifyResponse
	if err := client.New(e.url, nil).Do(context.Background(), http.MethodPost, "/v1/verify",
		api.VerifyRequest{Presentation: vp, Audience: "https://calendar.example.com", Scopes: []string{"calendar:read"}}, &res); err != nil {
		e.t.Fatal(err)
	}
	return res
}

// link makes a sign-in link for key, now.
func (e *env) link(key *client.Key) string {
	e.t.Helper()
	l, err := console.SignInLink(key.Signer, key.DID, e.issuer, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return e.url + strings.TrimPrefix(l, e.issuer)
}

// browser is a cookie-holding HTTP client that sends the headers a
// browser sends on the console's own forms.
type browser struct {
	e      *env
	hc     *http.Client
	cookie *http.Cookie
}

func (e *env) browser() *browser {
	return &browser{e: e, hc: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (p response) code() string { return p.header.Get("X-Agentid-Code") }

func (b *browser) do(req *http.Request) response {
	b.e.t.Helper()
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "agentid_console" || c.Name == "__Secure-agentid_console" {
			if c.MaxAge < 0 {
				b.cookie = nil
			} else {
				b.cookie = c
			}
		}
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) response {
	b.e.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = b.e.url + path
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// post sends a form as the console's own page would (Origin and
// Sec-Fetch-Site same-origin); hdr overrides or removes (empty value)
// those headers.
func (b *browser) post(path string, form url.Values, hdr map[string]string) response {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return b.do(req)
}

// signIn follows a sign-in link and fails the test unless it opens a
// session.
func (b *browser) signIn(key *client.Key) {
	b.e.t.Helper()
	p := b.get(b.e.link(key))
	if p.status != http.StatusOK || b.cookie == nil {
		b.e.t.Fatalf("sign-in: %d %s %q", p.status, p.code(), p.body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token from a console page.
func (b *browser) csrf() string {
	b.e.t.Helper()
	p := b.get("/console/")
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("no CSRF token on the overview (%d)", p.status)
	}
	return m[1]
}

func apiPrincipal(did, name string) api.Principal {
	return api.Principal{DID: did, Role: "orchestrator", Name: name, Ceiling: []string{"calendar:read"}}
}

func codeOf(err error) (string, bool) {
	c, ok := reason.CodeOf(err)
	return string(c), ok
}
