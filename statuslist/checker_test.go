package statuslist

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// forgeList signs a list credential for URL u with bits, after mutate has
// had its way with it.
func forgeList(tb testing.TB, s jws.Signer, issuer, u string, bits *Bitstring, now time.Time, mutate func(*listCredential)) string {
	tb.Helper()
	enc, err := bits.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	from := now.UTC().Truncate(time.Second)
	until := from.Add(24 * time.Hour)
	ttl := int64(300000)
	c := listCredential{
		Context:    []string{vc.ContextV2},
		ID:         u,
		Type:       []string{vc.TypeVerifiableCredential, TypeListCredential},
		Issuer:     vc.Issuer{ID: issuer},
		ValidFrom:  &from,
		ValidUntil: &until,
		CredentialSubject: listSubject{
			ID: u + "#list", Type: stringOrSet{TypeList}, StatusPurpose: stringOrSet{"revocation"},
			EncodedList: enc, TTL: &ttl,
		},
		Claims: vc.Claims{Iss: issuer, Jti: u, Iat: from.Unix(), Exp: until.Unix()},
	}
	if mutate != nil {
		mutate(&c)
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jws.Sign(s, vc.TypCredential, payload)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// forgeServer serves fixed bodies at paths and counts requests.
type forgeServer struct {
	mu     sync.Mutex
	bodies map[string]string
	hits   atomic.Int64
	delay  time.Duration
	base   string
}

func newForgeServer(tb testing.TB) *forgeServer {
	f := &forgeServer{bodies: map[string]string{}}
	_, f.base = localServer(tb, f)
	return f
}

func (f *forgeServer) put(path, body string) string {
	f.mu.Lock()
	f.bodies[path] = body
	f.mu.Unlock()
	return f.base + path
}

func (f *forgeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	time.Sleep(f.delay)
	f.mu.Lock()
	body, ok := f.bodies[r.URL.Path]
	f.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, r)
	case strings.HasPrefix(body, "HTTP "):
		code, _ := strconv.Atoi(body[5:])
		w.WriteHeader(code)
	default:
		w.Header().Set("Content-Type", MediaType)
		w.Write([]byte(body))
	}
}

func entryFor(u string, p Purpose, idx int) vc.StatusEntry {
	i := strconv.Itoa(idx)
	return vc.StatusEntry{ID: u + "#" + i, Type: EntryType, StatusPurpose: string(p), StatusListIndex: i, StatusListCredential: u}
}

// TestCheckFailsClosed: every way a list can be unobtainable or
// untrustworthy is status_unavailable; broken entries are malformed.
func TestCheckFailsClosed(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	other := newEdSigner(t, "did:web:other.example#k1")
	keys := newFakeKeys(signer, other)
	c, err := NewChecker(CheckerOptions{Keys: keys, Client: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	zero := New(MinSize)
	list := func(path string, s jws.Signer, issuer string, bits *Bitstring, mut func(*listCredential)) string {
		return fs.put(path, forgeList(t, s, issuer, fs.base+path, bits, now, mut))
	}
	good := list("/good", signer, testIssuer, zero, nil)

	// A signer whose kid names the issuer but whose key is not the one the
	// DID document lists.
	impostor := newEdSigner(t, testKid)
	bomb := &Bitstring{b: make([]byte, 20<<20)} // 20 MiB of zeros, ~20 KiB compressed

	tests := []struct {
		name   string
		issuer string
		entry  vc.StatusEntry
		want   reason.Code
	}{
		{"good", testIssuer, entryFor(good, Revocation, 5), ""},
		{"list from another issuer", testIssuer,
			entryFor(list("/other-issuer", other, "did:web:other.example", zero, nil), Revocation, 5), reason.StatusUnavailable},
		{"credential from another issuer", "did:web:other.example", entryFor(good, Revocation, 5), reason.StatusUnavailable},
		{"bad signature", testIssuer,
			entryFor(list("/bad-signature", impostor, testIssuer, zero, nil), Revocation, 5), reason.StatusUnavailable},
		{"kid of another DID", testIssuer,
			entryFor(list("/other-kid", other, testIssuer, zero, nil), Revocation, 5), reason.StatusUnavailable},
		{"wrong purpose", testIssuer, entryFor(good, Suspension, 5), reason.StatusUnavailable},
		{"unknown purpose", testIssuer, entryFor(good, "message", 5), reason.StatusUnavailable},
		{"index out of range", testIssuer, entryFor(good, Revocation, MinSize), reason.StatusUnavailable},
		{"unreachable", testIssuer, entryFor("http://localhost:1/status/revocation/0", Revocation, 5), reason.StatusUnavailable},
		{"404", testIssuer, entryFor(fs.base+"/missing", Revocation, 5), reason.StatusUnavailable},
		{"500", testIssuer, entryFor(fs.put("/500", "HTTP 500"), Revocation, 5), reason.StatusUnavailable},
		{"not a JWT", testIssuer, entryFor(fs.put("/html", "<html>hello</html>"), Revocation, 5), reason.StatusUnavailable},
		{"over MaxListBytes", testIssuer, entryFor(fs.put("/huge", strings.Repeat("a", DefaultMaxListBytes+1)), Revocation, 5), reason.StatusUnavailable},
		{"gzip bomb", testIssuer, entryFor(list("/bomb", signer, testIssuer, bomb, nil), Revocation, 5), reason.StatusUnavailable},
		{"expired", testIssuer, entryFor(list("/expired", signer, testIssuer, zero, func(c *listCredential) {
			from, until := now.Add(-48*time.Hour).Truncate(time.Second), now.Add(-24*time.Hour).Truncate(time.Second)
			c.ValidFrom, c.ValidUntil, c.Iat, c.Exp = &from, &until, from.Unix(), until.Unix()
		}), Revocation, 5), reason.StatusUnavailable},
		{"not yet valid", testIssuer, entryFor(list("/future", signer, testIssuer, zero, func(c *listCredential) {
			from := now.Add(time.Hour).Truncate(time.Second)
			c.ValidFrom = &from
		}), Revocation, 5), reason.StatusUnavailable},
		{"exp disagrees with validUntil", testIssuer, entryFor(list("/exp", signer, testIssuer, zero, func(c *listCredential) {
			c.Exp++
		}), Revocation, 5), reason.StatusUnavailable},
		{"served at another URL", testIssuer, entryFor(fs.put("/moved", forgeList(t, signer, testIssuer, good, zero, now, nil)), Revocation, 5), reason.StatusUnavailable},
		{"not a status list credential", testIssuer, entryFor(list("/type", signer, testIssuer, zero, func(c *listCredential) {
			c.Type = []string{vc.TypeVerifiableCredential}
		}), Revocation, 5), reason.StatusUnavailable},
		{"subject type", testIssuer, entryFor(list("/subject-type", signer, testIssuer, zero, func(c *listCredential) {
			c.CredentialSubject.Type = stringOrSet{"StatusList2021"}
		}), Revocation, 5), reason.StatusUnavailable},
		{"statusSize 2", testIssuer, entryFor(list("/size2", signer, testIssuer, zero, func(c *listCredential) {
			two := int64(2)
			c.CredentialSubject.StatusSize = &two
		}), Revocation, 5), reason.StatusUnavailable},
		{"short list", testIssuer, entryFor(list("/short", signer, testIssuer, &Bitstring{b: make([]byte, 1024)}, nil), Revocation, 5), reason.StatusUnavailable},
		{"no context", testIssuer, entryFor(list("/context", signer, testIssuer, zero, func(c *listCredential) {
			c.Context = nil
		}), Revocation, 5), reason.StatusUnavailable},
		{"plain http elsewhere", testIssuer, entryFor("http://127.0.0.1:1/status/revocation/0", Revocation, 5), reason.StatusUnavailable},
		{"file URL", testIssuer, entryFor("file:///etc/passwd", Revocation, 5), reason.StatusUnavailable},
		{"entry type", testIssuer, func() vc.StatusEntry { e := entryFor(good, Revocation, 5); e.Type = "StatusList2021Entry"; return e }(), reason.Malformed},
		{"entry index not decimal", testIssuer, func() vc.StatusEntry { e := entryFor(good, Revocation, 5); e.StatusListIndex = "0x5"; return e }(), reason.Malformed},
		{"entry index leading zero", testIssuer, func() vc.StatusEntry { e := entryFor(good, Revocation, 5); e.StatusListIndex = "05"; return e }(), reason.Malformed},
		{"entry index negative", testIssuer, func() vc.StatusEntry { e := entryFor(good, Revocation, 5); e.StatusListIndex = "-5"; return e }(), reason.Malformed},
		{"entry without list", testIssuer, func() vc.StatusEntry { e := entryFor(good, Revocation, 5); e.StatusListCredential = ""; return e }(), reason.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, c.Check(ctx, tt.issuer, []vc.StatusEntry{tt.entry}), tt.want)
		})
	}
	// The underlying reason survives for logs: a bad signature is still
	// recognisable under status_unavailable.
	err = c.Check(ctx, testIssuer, []vc.StatusEntry{entryFor(fs.base+"/bad-signature", Revocation, 5)})
	if !errors.Is(err, reason.BadSignature) {
		t.Fatalf("cause lost: %v", err)
	}
	// The bomb was refused by the decompression cap, not some other check.
	err = c.Check(ctx, testIssuer, []vc.StatusEntry{entryFor(fs.base+"/bomb", Revocation, 5)})
	if !errors.Is(err, ErrListTooLarge) {
		t.Fatalf("bomb refused for another reason: %v", err)
	}
	// A failure does not hide a set bit elsewhere: revoked wins.
	revoked := New(MinSize)
	revoked.Set(7)
	rl := list("/revoked", signer, testIssuer, revoked, nil)
	wantCode(t, c.Check(ctx, testIssuer, []vc.StatusEntry{
		entryFor(fs.base+"/500", Suspension, 1), entryFor(rl, Revocation, 7)}), reason.Revoked)
	wantCode(t, c.Check(ctx, testIssuer, make([]vc.StatusEntry, MaxEntries+1)), reason.Malformed)
	wantCode(t, c.Check(ctx, testIssuer, nil), "")
}

func TestCheckSmallDecodeCap(t *testing.T) {
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(signer), MaxDecodedBytes: MinSize / 8})
	big := fs.put("/big", forgeList(t, signer, testIssuer, fs.base+"/big", New(2*MinSize), time.Now(), nil))
	wantCode(t, c.Check(context.Background(), testIssuer, []vc.StatusEntry{entryFor(big, Revocation, 1)}), reason.StatusUnavailable)
}

func TestAllowHTTP(t *testing.T) {
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys()})
	for u, want := range map[string]bool{
		"https://issuer.example/status/revocation/0": true,
		"http://localhost:8080/status/revocation/0":  true,
		"http://localhost/x":                         true,
		"http://127.0.0.1:8080/status/revocation/0":  false,
		"http://[::1]:8080/x":                        false,
		"http://issuer.example/x":                    false,
		"http://localhost.evil.example/x":            false,
		"ftp://localhost/x":                          false,
		"https:///x":                                 false,
	} {
		p, _ := url.Parse(u)
		if got := c.allowed(p); got != want {
			t.Errorf("allowed(%s) = %v", u, got)
		}
	}
	if err := c.Subscribe(context.Background(), "http://issuer.example/v1/status/events"); err == nil {
		t.Error("Subscribe to plain http elsewhere accepted")
	}
	if _, err := NewChecker(CheckerOptions{}); err == nil {
		t.Error("NewChecker without keys succeeded")
	}
}

func TestRedirectHeldToPolicy(t *testing.T) {
	mux := http.NewServeMux()
	_, base := localServer(t, mux)
	mux.HandleFunc("/to-ip", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/list", http.StatusFound)
	})
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys()})
	err := c.Check(context.Background(), testIssuer, []vc.StatusEntry{entryFor(base+"/to-ip", Revocation, 1)})
	wantCode(t, err, reason.StatusUnavailable)
	if !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("not refused for the redirect: %v", err)
	}
}

// TestFetchOnce: concurrent callers share one fetch.
func TestFetchOnce(t *testing.T) {
	fs := newForgeServer(t)
	fs.delay = 100 * time.Millisecond
	signer := newEdSigner(t, testKid)
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(signer)})
	u := fs.put("/l", forgeList(t, signer, testIssuer, fs.base+"/l", New(MinSize), time.Now(), nil))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Check(context.Background(), testIssuer, []vc.StatusEntry{entryFor(u, Revocation, i)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		wantCode(t, err, "")
	}
	if n := fs.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for 64 concurrent callers", n)
	}
	// A caller that gives up does not fail the fetch for the others.
	c.Invalidate(u)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	wantCode(t, c.Check(ctx, testIssuer, []vc.StatusEntry{entryFor(u, Revocation, 1)}), reason.StatusUnavailable)
	wantCode(t, c.Check(context.Background(), testIssuer, []vc.StatusEntry{entryFor(u, Revocation, 1)}), "")
	if n := fs.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestRenewRefusesExpiredList(t *testing.T) {
	clock := newFakeClock()
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(signer), Now: clock.Now})
	tok := forgeList(t, signer, testIssuer, fs.base+"/l", New(MinSize), clock.Now(), nil)
	u := fs.put("/l", tok)
	e := []vc.StatusEntry{entryFor(u, Revocation, 3)}
	wantCode(t, c.Check(context.Background(), testIssuer, e), "")
	clock.Add(25 * time.Hour) // the same list is still served, but it has expired
	wantCode(t, c.Check(context.Background(), testIssuer, e), reason.StatusUnavailable)
}

func TestEventsFromOtherOriginsIgnored(t *testing.T) {
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys()})
	mine, theirs := "http://localhost:8080/status/revocation/0", "https://other.example/status/revocation/0"
	for _, u := range []string{mine, theirs} {
		c.cache[u] = &cachedList{expires: time.Now().Add(time.Hour)}
	}
	stream := "event: status\ndata: {\"list\":\"" + theirs + "\",\"purpose\":\"revocation\"}\n\n"
	c.readEvents(strings.NewReader(stream), "http://localhost:8080", func() {})
	if c.cache[theirs] == nil {
		t.Fatal("an event from one origin invalidated another's list")
	}
	stream = ": keepalive\n\nevent: status\ndata: {\"list\":\"" + mine + "\",\n\n"
	c.readEvents(strings.NewReader(stream), "http://localhost:8080", func() {})
	if c.cache[mine] != nil {
		t.Fatal("a malformed event did not invalidate the origin")
	}
}

// TestMemoryPerCachedList measures what a cached 131,072-entry list costs.
func TestMemoryPerCachedList(t *testing.T) {
	perList := measureCachedList(t, 64)
	t.Logf("%.0f bytes resident per cached list", perList)
	if perList > 20<<10 {
		t.Fatalf("%.0f bytes per cached list, over 20 KiB", perList)
	}
}

func measureCachedList(tb testing.TB, n int) float64 {
	fs := newForgeServer(tb)
	signer := newEdSigner(tb, testKid)
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(signer)})
	entries := make([]vc.StatusEntry, n)
	bits := New(MinSize)
	for i := 0; i < 100; i++ {
		bits.Set(i * 1000)
	}
	for i := range entries {
		p := "/status/revocation/" + strconv.Itoa(i)
		entries[i] = entryFor(fs.put(p, forgeList(tb, signer, testIssuer, fs.base+p, bits, time.Now(), nil)), Revocation, 1)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, e := range entries {
		if err := c.Check(context.Background(), testIssuer, []vc.StatusEntry{e}); err != nil {
			tb.Fatal(err)
		}
	}
	// Idle HTTP connections are not the cache's.
	c.client.CloseIdleConnections()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(c.cache) != n {
		tb.Fatalf("%d lists cached", len(c.cache))
	}
	runtime.KeepAlive(c)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

func TestCacheBoundedInLists(t *testing.T) {
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(signer), MaxLists: 4})
	for i := 0; i < 10; i++ {
		p := "/l" + strconv.Itoa(i)
		u := fs.put(p, forgeList(t, signer, testIssuer, fs.base+p, New(MinSize), time.Now(), nil))
		wantCode(t, c.Check(context.Background(), testIssuer, []vc.StatusEntry{entryFor(u, Revocation, 1)}), "")
	}
	if n := len(c.cache); n > 4 {
		t.Fatalf("%d lists cached, limit 4", n)
	}
}

func FuzzEventStream(f *testing.F) {
	f.Add("event: status\ndata: {\"list\":\"http://localhost:8080/status/revocation/0\",\"purpose\":\"revocation\"}\n\n")
	f.Add(": keepalive\n\nretry: 1000\n\n")
	f.Add("data: a\ndata: b\n\nevent: other\ndata: {}\n\n")
	f.Add("data:{\"list\":\"http://localhost:8080/x\"}\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys()})
		c.cache["https://other.example/x"] = &cachedList{}
		c.readEvents(strings.NewReader(s), "http://localhost:8080", func() {})
		if c.cache["https://other.example/x"] == nil {
			t.Fatal("another origin's list was invalidated")
		}
	})
}

// FuzzListCredential signs arbitrary payloads with a trusted key and checks
// that parsing them never panics and never yields a list that breaks the
// invariants Check relies on.
func FuzzListCredential(f *testing.F) {
	signer := newEdSigner(f, testKid)
	const u = "https://issuer.example/status/revocation/0"
	tok := forgeList(f, signer, testIssuer, u, New(MinSize), time.Now(), nil)
	t0, _ := jws.Parse(tok)
	f.Add(t0.Payload)
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","BitstringStatusListCredential"],"id":"` + u + `","issuer":{"id":"` + testIssuer + `"},"credentialSubject":{"type":["BitstringStatusList"],"statusPurpose":["revocation","suspension"],"encodedList":"u","ttl":-1}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(signer), MaxDecodedBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, payload []byte) {
		tok, err := jws.Sign(signer, vc.TypCredential, payload)
		if err != nil {
			return
		}
		l, err := c.parseList(context.Background(), u, tok)
		if err != nil {
			if c, _ := reason.CodeOf(err); c != reason.StatusUnavailable {
				t.Fatalf("error with code %q: %v", c, err)
			}
			return
		}
		if len(l.bits)*8 < MinSize || len(l.bits) > 1<<20 || l.issuer != testIssuer || len(l.purposes) == 0 {
			t.Fatalf("accepted list: %d bytes, issuer %q, purposes %v", len(l.bits), l.issuer, l.purposes)
		}
		if l.expires.After(time.Now().Add(DefaultMaxAge + time.Second)) {
			t.Fatalf("cached until %v", l.expires)
		}
	})
}

// TestRollbackRefused: once a list signed after a revocation was seen, the
// list signed before it is refused (status_unavailable) even after the
// cache entry is invalidated, and the newer list keeps answering.
func TestRollbackRefused(t *testing.T) {
	clock := newFakeClock()
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	c, _ := NewChecker(CheckerOptions{Keys: newFakeKeys(signer), Now: clock.Now})
	u := fs.base + "/l"
	e := []vc.StatusEntry{entryFor(u, Revocation, 3)}

	before := forgeList(t, signer, testIssuer, u, New(MinSize), clock.Now(), nil)
	clock.Add(time.Minute)
	revoked := New(MinSize)
	if err := revoked.Set(3); err != nil {
		t.Fatal(err)
	}
	after := forgeList(t, signer, testIssuer, u, revoked, clock.Now(), nil)

	fs.put("/l", after)
	wantCode(t, c.Check(context.Background(), testIssuer, e), reason.Revoked)

	// The attacker serves the older list; an event (or a restart of the
	// cache entry) makes the checker fetch again.
	fs.put("/l", before)
	c.Invalidate(u)
	wantCode(t, c.Check(context.Background(), testIssuer, e), reason.StatusUnavailable)
	// And after the cached newer list expired, too.
	clock.Add(10 * time.Minute)
	wantCode(t, c.Check(context.Background(), testIssuer, e), reason.StatusUnavailable)

	// The newer list (or a later one) is accepted again.
	fs.put("/l", after)
	wantCode(t, c.Check(context.Background(), testIssuer, e), reason.Revoked)
}
