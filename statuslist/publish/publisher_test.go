package publish

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/credcheck"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

func get(tb testing.TB, h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	tb.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// decodeList verifies a served list with the test key and decodes it.
func decodeList(tb testing.TB, pub *edSigner, token string) (*jws.Token, listCredential, map[string]json.RawMessage) {
	tb.Helper()
	t, err := jws.Parse(token)
	if err != nil {
		tb.Fatal(err)
	}
	if err := t.Verify(pub.Public()); err != nil {
		tb.Fatal(err)
	}
	var lc listCredential
	if err := json.Unmarshal(t.Payload, &lc); err != nil {
		tb.Fatal(err)
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(t.Payload, &raw)
	return t, lc, raw
}

func TestServeList(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, envOptions{store: Options{Now: clock.Now}})
	rev, sus := e.allocate(t)
	if err := e.store.Set(context.Background(), rev, true); err != nil {
		t.Fatal(err)
	}
	w := get(t, e.pub, "GET", "/status/revocation/0")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	h := w.Header()
	if ct := h.Get("Content-Type"); ct != "application/vc+jwt" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "public, max-age=300, must-revalidate" {
		t.Fatalf("Cache-Control %q", cc)
	}
	etag := h.Get("ETag")
	if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("ETag %q is not a strong entity tag", etag)
	}
	tok, lc, raw := decodeList(t, e.signer, w.Body.String())
	if tok.Header.Typ != "vc+jwt" || tok.Header.Kid != testKid || tok.Header.Alg != "EdDSA" {
		t.Fatalf("header %+v", tok.Header)
	}
	u := e.base + "/status/revocation/0"
	now := clock.Now()
	switch {
	case len(lc.Context) != 1 || lc.Context[0] != vc.ContextV2:
		t.Fatalf("@context %v", lc.Context)
	case lc.ID != u:
		t.Fatalf("id %q", lc.ID)
	case len(lc.Type) != 2 || lc.Type[0] != "VerifiableCredential" || lc.Type[1] != "BitstringStatusListCredential":
		t.Fatalf("type %v", lc.Type)
	case string(raw["issuer"]) != `"`+testIssuer+`"`:
		t.Fatalf("issuer %s", raw["issuer"])
	case !lc.ValidFrom.Equal(now) || !lc.ValidUntil.Equal(now.Add(24*time.Hour)):
		t.Fatalf("validity %v - %v", lc.ValidFrom, lc.ValidUntil)
	case lc.Iss != testIssuer || lc.Jti != u || lc.Iat != now.Unix() || lc.Exp != now.Add(24*time.Hour).Unix():
		t.Fatalf("claims %+v", lc.Claims)
	case raw["sub"] != nil || raw["nbf"] != nil:
		t.Fatal("sub or nbf present")
	}
	s := lc.CredentialSubject
	if s.ID != u+"#list" || len(s.Type) != 1 || s.Type[0] != "BitstringStatusList" ||
		len(s.StatusPurpose) != 1 || s.StatusPurpose[0] != "revocation" || s.TTL == nil || *s.TTL != 300000 {
		t.Fatalf("credentialSubject %+v", s)
	}
	var rs map[string]json.RawMessage
	json.Unmarshal(raw["credentialSubject"], &rs)
	if string(rs["type"]) != `"BitstringStatusList"` || string(rs["statusPurpose"]) != `"revocation"` {
		t.Fatalf("type/statusPurpose not written as strings: %s", raw["credentialSubject"])
	}
	bits, err := statuslist.Decode(s.EncodedList, 0)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := strconv.Atoi(rev.StatusListIndex)
	for i := 0; i < bits.Len(); i++ {
		if b, _ := bits.Get(i); b != (i == idx) {
			t.Fatalf("bit %d = %v (revoked index %d)", i, b, idx)
		}
	}
	// The payload satisfies the data-model checks a verifier applies.
	if err := credcheck.CheckClaims((*credcheck.Claims)(&lc.Claims), lc.Issuer.ID, "", lc.ID, lc.ValidFrom, lc.ValidUntil); err != nil {
		t.Fatal(err)
	}

	// Conditional requests.
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		if w := get(t, e.pub, "GET", "/status/revocation/0", "If-None-Match", inm); w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
			t.Fatalf("If-None-Match %s: %d", inm, w.Code)
		}
	}
	if w := get(t, e.pub, "GET", "/status/revocation/0", "If-None-Match", `"other"`); w.Code != 200 {
		t.Fatalf("stale If-None-Match: %d", w.Code)
	}
	if w := get(t, e.pub, "HEAD", "/status/revocation/0"); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
		t.Fatalf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	// The suspension list exists too, with its own tag.
	if w := get(t, e.pub, "GET", sus.StatusListCredential[len(e.base):]); w.Code != 200 || w.Header().Get("ETag") == etag {
		t.Fatalf("suspension list: %d", w.Code)
	}
	// A mounted prefix does not matter: the last two segments name the list.
	if w := get(t, e.pub, "GET", "/issuer/status/revocation/0"); w.Code != 200 {
		t.Fatalf("under a prefix: %d", w.Code)
	}
}

func TestServeErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.allocate(t)
	tests := []struct {
		method, path string
		code         int
	}{
		{"GET", "/status/revocation/1", 404},
		{"GET", "/status/revocation/4294967295", 404},
		{"GET", "/status/message/0", 404},
		{"GET", "/status/Revocation/0", 404},
		{"GET", "/status/revocation", 404},
		{"GET", "/", 404},
		{"GET", "/status/revocation/-1", 400},
		{"GET", "/status/revocation/01", 400},
		{"GET", "/status/revocation/x", 400},
		{"GET", "/status/revocation/4294967296", 400},
		{"GET", "/status/revocation/99999999999", 400},
		{"POST", "/status/revocation/0", 405},
		{"DELETE", "/status/revocation/0", 405},
	}
	for _, tt := range tests {
		if w := get(t, e.pub, tt.method, tt.path); w.Code != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, w.Code, tt.code)
		}
	}
	// A signer or a store that fails: 503 unavailable with Retry-After
	// (docs/deploy.md, "What fails how"), never an unsigned or stale list.
	fails := []struct {
		name string
		fail func()
		path string
	}{
		{"failing signer", func() { e.signer.fail.Store(true) }, "/status/suspension/0"},
		{"store closed", func() { e.db.Close() }, "/status/revocation/0"},
	}
	for _, f := range fails {
		f.fail()
		w := get(t, e.pub, "GET", f.path)
		var body struct{ Code string }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != 503 || w.Header().Get("Retry-After") != "10" || body.Code != "unavailable" ||
			w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d, Retry-After %q, %s %q; want 503, Retry-After 10, problem code unavailable",
				f.name, w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"), w.Body.String())
		}
	}
}

// TestCoalescing: a burst of 1,000 changes makes a handful of signatures,
// and the list served afterwards has every change.
func TestCoalescing(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n = 1000
	entries := make([]vc.StatusEntry, n)
	err := e.db.Update(context.Background(), func(tx store.Tx) error {
		for i := range entries {
			var err error
			if entries[i], err = e.store.AllocateTx(tx, Suspension); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Sign the list once, as a verifier's first fetch would.
	if w := get(t, e.pub, "GET", "/status/suspension/0"); w.Code != 200 {
		t.Fatal(w.Code)
	}
	ch, cancel := subscribeFeed(t, e.feed)
	defer cancel()
	before := e.signer.calls.Load()
	start := time.Now()
	for _, en := range entries {
		if err := e.store.Set(context.Background(), en, true); err != nil {
			t.Fatal(err)
		}
	}
	burst := time.Since(start)
	waitSettled(t, e.pub)
	signs := e.signer.calls.Load() - before
	// One signature at the leading edge, then at most one per interval.
	limit := int64(burst/DefaultCoalesceInterval) + 2
	t.Logf("%d changes in %v: %d signatures (limit %d)", n, burst, signs, limit)
	if signs > limit || signs < 1 {
		t.Fatalf("%d signatures for a burst of %d changes in %v, want 1..%d", signs, n, burst, limit)
	}
	if burst < time.Second && signs > 12 {
		t.Fatalf("%d signatures for a sub-second burst", signs)
	}
	w := get(t, e.pub, "GET", "/status/suspension/0")
	_, lc, _ := decodeList(t, e.signer, w.Body.String())
	bits, err := statuslist.Decode(lc.CredentialSubject.EncodedList, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		i, _ := strconv.Atoi(en.StatusListIndex)
		if b, _ := bits.Get(i); !b {
			t.Fatalf("index %d not set in the final list", i)
		}
	}
	// Each signature was announced.
	events := 0
	for len(ch) > 0 {
		if ev := <-ch; ev.List != entries[0].StatusListCredential || ev.Purpose != Suspension {
			t.Fatalf("event %+v", ev)
		}
		events++
	}
	if int64(events) != signs {
		t.Fatalf("%d events for %d signatures", events, signs)
	}
}

// waitSettled waits until p has signed every committed change.
func waitSettled(tb testing.TB, p *Publisher) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !p.settled() {
		if time.Now().After(deadline) {
			tb.Fatal("publisher did not settle")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subscribeFeed subscribes to f directly, without HTTP.
func subscribeFeed(tb testing.TB, f *Feed) (<-chan statuslist.Event, func()) {
	tb.Helper()
	s := anonSub(f)
	if s == nil {
		tb.Fatal("subscribe refused")
	}
	return s.ch, func() { f.unsubscribe(s) }
}

func TestResignNearExpiry(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, envOptions{store: Options{Now: clock.Now}})
	e.allocate(t)
	first := get(t, e.pub, "GET", "/status/revocation/0").Body.String()
	clock.Add(11 * time.Hour) // more than half of 24 h remains
	if got := get(t, e.pub, "GET", "/status/revocation/0").Body.String(); got != first {
		t.Fatal("re-signed with more than half the validity left")
	}
	clock.Add(2 * time.Hour) // 11 h left
	got := get(t, e.pub, "GET", "/status/revocation/0").Body.String()
	if got == first {
		t.Fatal("not re-signed with less than half the validity left")
	}
	_, lc, _ := decodeList(t, e.signer, got)
	if !lc.ValidFrom.Equal(clock.Now()) {
		t.Fatalf("validFrom %v, want %v", lc.ValidFrom, clock.Now())
	}
}

func TestKeyRotationPickedUp(t *testing.T) {
	e := newEnv(t, envOptions{})
	var mu sync.Mutex
	current := jws.Signer(e.signer)
	e.pub.signer = func() jws.Signer { mu.Lock(); defer mu.Unlock(); return current }
	rev, _ := e.allocate(t)
	get(t, e.pub, "GET", "/status/revocation/0")
	k2 := newEdSigner(t, testIssuer+"#k2")
	mu.Lock()
	current = k2
	mu.Unlock()
	if err := e.store.Set(context.Background(), rev, true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		tok, err := jws.Parse(get(t, e.pub, "GET", "/status/revocation/0").Body.String())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Header.Kid == k2.kid {
			if err := tok.Verify(k2.Public()); err != nil {
				t.Fatal(err)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("list not re-signed with the rotated key")
}

func TestNewPublisherOptions(t *testing.T) {
	db, _ := openDB(t)
	s := openStore(t, db, statuslist.MinSize)
	sig := func() jws.Signer { return nil }
	for _, o := range []PublisherOptions{
		{Signer: sig},
		{Issuer: "https://issuer.example", Signer: sig},
		{Issuer: testIssuer},
		{Issuer: testIssuer, Signer: sig, Validity: time.Minute},
		{Issuer: testIssuer, Signer: sig, CoalesceInterval: -1},
	} {
		if _, err := NewPublisher(s, o); err == nil {
			t.Errorf("NewPublisher(%+v) succeeded", o)
		}
	}
	if _, err := NewPublisher(nil, PublisherOptions{Issuer: testIssuer, Signer: sig}); err == nil {
		t.Error("nil store accepted")
	}
	// A signer of another DID is refused at signing time.
	p, err := NewPublisher(s, PublisherOptions{Issuer: testIssuer, Signer: func() jws.Signer { return newEdSigner(t, "did:web:other#k1") }})
	if err != nil {
		t.Fatal(err)
	}
	allocate(t, db, s, Revocation)
	if _, err := p.ListCredential(s.ListURL(Revocation, 0)); err == nil || !strings.Contains(err.Error(), "not a key of issuer") {
		t.Fatalf("foreign signer: %v", err)
	}
}

func TestFeedSSE(t *testing.T) {
	f := NewFeed(FeedOptions{Keepalive: 30 * time.Millisecond})
	defer f.Close()
	srv := httptest.NewServer(f)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	for f.Subscribers() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.Publish(statuslist.Event{List: "http://localhost:8080/status/revocation/0", Purpose: Revocation})
	want := "event: status\ndata: {\"list\":\"http://localhost:8080/status/revocation/0\",\"purpose\":\"revocation\"}\n\n"
	var got strings.Builder
	buf := make([]byte, 512)
	deadline := time.Now().Add(2 * time.Second)
	for !(strings.Contains(got.String(), want) && strings.Contains(got.String(), ": keepalive\n\n")) {
		if time.Now().After(deadline) {
			t.Fatalf("stream so far: %q", got.String())
		}
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("%v; stream so far: %q", err, got.String())
		}
	}
	// Close ends the stream.
	f.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if w := get(t, f, "GET", "/"); w.Code != 503 {
		t.Fatalf("closed feed: %d", w.Code)
	}
	if w := get(t, f, "POST", "/"); w.Code != 405 {
		t.Fatalf("POST: %d", w.Code)
	}
}

func TestFeedDropsSlowSubscriber(t *testing.T) {
	f := NewFeed(FeedOptions{Buffer: 2})
	slow := anonSub(f)
	fast := anonSub(f)
	start := time.Now()
	for i := 0; i < 100; i++ {
		f.Publish(statuslist.Event{List: "u" + strconv.Itoa(i), Purpose: Suspension})
		for len(fast.ch) > 0 {
			<-fast.ch
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("publishing blocked for %v", d)
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("slow subscriber still connected")
	}
	select {
	case <-fast.gone:
		t.Fatal("fast subscriber dropped")
	default:
	}
	if n := f.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers", n)
	}
}

func TestFeedMaxSubscribers(t *testing.T) {
	f := NewFeed(FeedOptions{MaxSubscribers: 1})
	defer f.Close()
	if anonSub(f) == nil {
		t.Fatal("first subscriber refused")
	}
	if w := get(t, f, "GET", "/v1/status/events"); w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d", w.Code)
	}
}

// A list fetched after a change was acknowledged shows the change, even
// while the coalesced re-signing waits for its interval: the signature of
// the list before the change is never served again.
func TestNoStaleListAfterChange(t *testing.T) {
	e := newEnv(t, envOptions{pub: PublisherOptions{CoalesceInterval: time.Hour}})
	var en vc.StatusEntry
	if err := e.db.Update(context.Background(), func(tx store.Tx) error {
		var err error
		en, err = e.store.AllocateTx(tx, Revocation)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bit := func() bool {
		t.Helper()
		w := get(t, e.pub, "GET", "/status/revocation/0")
		if w.Code != 200 {
			t.Fatal(w.Code)
		}
		_, lc, _ := decodeList(t, e.signer, w.Body.String())
		bits, err := statuslist.Decode(lc.CredentialSubject.EncodedList, 0)
		if err != nil {
			t.Fatal(err)
		}
		i, _ := strconv.Atoi(en.StatusListIndex)
		b, _ := bits.Get(i)
		return b
	}
	if bit() {
		t.Fatal("set before the change")
	}
	// A first change flushes at once and starts the hour's interval; the
	// second waits for it.
	other, _ := e.allocate(t)
	if err := e.store.Set(context.Background(), other, true); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, e.pub)
	_ = bit() // signed and cached again
	if err := e.store.Set(context.Background(), en, true); err != nil {
		t.Fatal(err)
	}
	if !bit() {
		t.Fatal("the list served after the revocation was acknowledged does not show it")
	}
}
