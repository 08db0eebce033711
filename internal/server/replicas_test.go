package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// replica is one agentid process on a shared database, reached through
// the issuer URL all replicas share (as behind a load balancer) but
// routed to this replica's own address.
type replica struct {
	*testServer
	addr string
	hc   *http.Client
}

// startReplicas starts n replicas on one new database, the first
// initialising it; the others are given its master key file.
func startReplicas(t *testing.T, n int) []*replica {
	t.Helper()
	return startReplicasWith(t, n, Config{})
}

// startReplicasWith is startReplicas with the options of base.
func startReplicasWith(t *testing.T, n int, base Config) []*replica {
	t.Helper()
	dsn := pgtest.New(t)
	t.Setenv("AGENTID_MASTER_KEY", "")
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	url := "http://localhost:" + strings.Split(lns[0].Addr().String(), ":")[1]
	var out []*replica
	var first string
	for i, ln := range lns {
		dir := t.TempDir()
		if i > 0 {
			b, err := os.ReadFile(filepath.Join(first, MasterKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, MasterKeyFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			first = dir
		}
		cfg := base
		cfg.DataDir, cfg.IssuerURL, cfg.AllowHTTPLocalhost, cfg.StoreURL, cfg.Logger = dir, url, true, dsn, testLogger(t)
		app, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		s, err := NewServer(app, ServerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: s.Handler()}
		go hs.Serve(ln)
		addr := ln.Addr().String()
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		}}
		key, err := client.LoadKey(filepath.Join(first, AdminKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		ts := &testServer{app: app, url: url, srv: hs, s: s, admin: client.New(url, key, client.WithHTTPClient(hc))}
		t.Cleanup(ts.close)
		out = append(out, &replica{testServer: ts, addr: addr, hc: hc})
	}
	return out
}

// verifyOn asks replica r's verifier service about a new presentation.
func (r *replica) verifyOn(t *testing.T, vp string) api.VerifyResponse {
	t.Helper()
	var res api.VerifyResponse
	if err := client.New(r.url, nil, client.WithHTTPClient(r.hc)).Do(context.Background(), http.MethodPost, "/v1/verify",
		api.VerifyRequest{Presentation: vp, Audience: "https://calendar.example.com"}, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// expectVerify presents cred, signed by agent, to r's verifier service and
// fails the test unless the answer is valid (want "") or refused with the
// reason code want.
func (r *replica) expectVerify(t *testing.T, agent *client.Key, cred, want string) {
	t.Helper()
	vp, err := agent.Present(client.PresentOptions{Credential: cred, Audience: "https://calendar.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	res := r.verifyOn(t, vp)
	got := ""
	if res.Error != nil {
		got = string(res.Error.Code)
	}
	if res.Valid != (want == "") || got != want {
		t.Fatalf("replica %s: valid %v, code %q; want code %q", r.addr, res.Valid, got, want)
	}
}

// events subscribes to r's status feed and returns the data lines it
// receives.
func (r *replica) events(t *testing.T) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/v1/status/events", nil)
	hc := &http.Client{Transport: r.hc.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status events: %d", resp.StatusCode)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				out <- strings.TrimSpace(d)
			}
		}
	}()
	return out
}

func waitEvent(t *testing.T, ch <-chan string, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case d := <-ch:
			if strings.Contains(d, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no event naming %s within %v", want, within)
		}
	}
}

func statusIndex(t *testing.T, cred string) string {
	t.Helper()
	parts := strings.Split(cred, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		CredentialStatus json.RawMessage `json:"credentialStatus"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Purpose string `json:"statusPurpose"`
		Index   string `json:"statusListIndex"`
		List    string `json:"statusListCredential"`
	}
	if err := json.Unmarshal(c.CredentialStatus, &entries); err != nil {
		var one struct {
			Purpose string `json:"statusPurpose"`
			Index   string `json:"statusListIndex"`
			List    string `json:"statusListCredential"`
		}
		if err := json.Unmarshal(c.CredentialStatus, &one); err != nil {
			t.Fatalf("credentialStatus: %s", c.CredentialStatus)
		}
		entries = append(entries, one)
	}
	var ks []string
	for _, e := range entries {
		ks = append(ks, e.List+"#"+e.Index)
	}
	return strings.Join(ks, " ")
}

// Two replicas on one database: what one issues the other verifies; a
// revocation on one is refused by the other and announced on both feeds
// within a second; a key rotated on one signs on the other.
func TestReplicasShareState(t *testing.T) {
	rs := startReplicas(t, 2)
	a, b := rs[0], rs[1]
	evA, evB := a.events(t), b.events(t)

	agent := newKey(t)
	out, err := a.issue(t, a.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	vp := func() string {
		vp, err := agent.Present(client.PresentOptions{Credential: out.Credential, Audience: "https://calendar.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return vp
	}
	if res := b.verifyOn(t, vp()); !res.Valid {
		t.Fatalf("replica B refuses what A issued: %+v", res.Error)
	}

	var cr api.Credential
	if err := b.admin.Do(context.Background(), http.MethodPost, "/v1/credentials/"+out.ID+"/revoke", nil, &cr); err != nil || !cr.Revoked {
		t.Fatalf("revoke on B: %v %+v", err, cr)
	}
	list := strings.Split(statusIndex(t, out.Credential), "#")[0]
	waitEvent(t, evA, list, time.Second)
	waitEvent(t, evB, list, time.Second)
	if res := a.verifyOn(t, vp()); res.Valid || res.Error == nil || res.Error.Code != "revoked" {
		t.Fatalf("replica A after the revocation on B: %+v %+v", res, res.Error)
	}

	var k api.KeyInfo
	if err := b.admin.Do(context.Background(), http.MethodPost, "/v1/keys/rotate", nil, &k); err != nil || !k.Primary {
		t.Fatalf("rotate on B: %v %+v", err, k)
	}
	next, err := a.issue(t, a.admin, newKey(t), []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(headerKid(t, next.Credential), k.KID) {
		t.Fatalf("A signs with %s, not the key %s rotated in on B", headerKid(t, next.Credential), k.KID)
	}
	resp, err := a.hc.Get(a.url + "/.well-known/did.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), k.KID) {
		t.Fatalf("A's DID document lacks the key rotated in on B: %s", body)
	}
}

// A presentation accepted by one replica is refused (replayed) by the
// other; a nonce issued by one is accepted once by the other.
func TestReplicasShareReplayAndNonces(t *testing.T) {
	rs := startReplicas(t, 2)
	a, b := rs[0], rs[1]
	agent := newKey(t)
	out, err := a.issue(t, a.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	vp, err := agent.Present(client.PresentOptions{Credential: out.Credential, Audience: "https://calendar.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if res := a.verifyOn(t, vp); !res.Valid {
		t.Fatalf("first presentation on A: %+v", res.Error)
	}
	if res := b.verifyOn(t, vp); res.Valid || res.Error == nil || res.Error.Code != "replayed" {
		t.Fatalf("the same presentation on B: %+v %+v; want replayed", res, res.Error)
	}
	if res := a.verifyOn(t, vp); res.Valid || res.Error == nil || res.Error.Code != "replayed" {
		t.Fatalf("the same presentation on A again: %+v; want replayed", res)
	}

	// A proof of control over a nonce from A, used on B, then on A.
	agent2 := newKey(t)
	proof, err := a.admin.Proof(context.Background(), agent2)
	if err != nil {
		t.Fatal(err)
	}
	req := api.IssueRequest{Agent: agent2.DID, Proof: proof, Scopes: []string{"calendar:read"},
		Audiences: []string{"https://calendar.example.com"}, Owner: "team-a", Purpose: "test"}
	var issued api.Issued
	if err := b.admin.Do(context.Background(), http.MethodPost, "/v1/agents", req, &issued); err != nil {
		t.Fatalf("B refuses a nonce issued by A: %v", err)
	}
	req.Agent = agent2.DID
	err = a.admin.Do(context.Background(), http.MethodPost, "/v1/agents", req, &issued)
	if code := problemCode(err); code != "bad_nonce" {
		t.Fatalf("a proof whose nonce B consumed, on A: %v; want bad_nonce", err)
	}
}

// Issuance on both replicas at once hands out no status index twice, and
// the audit log stays one chain holding every event of both.
func TestReplicasConcurrentIssuance(t *testing.T) {
	rs := startReplicas(t, 2)
	const per = 20
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*per)
	for _, r := range rs {
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := r.issue(t, r.admin, newKey(t), []string{"calendar:read"})
				if err != nil {
					errs <- err
					return
				}
				k := statusIndex(t, out.Credential)
				mu.Lock()
				defer mu.Unlock()
				if seen[k] {
					errs <- &dupError{k}
				}
				seen[k] = true
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != 2*per {
		t.Errorf("%d distinct status entries for %d credentials", len(seen), 2*per)
	}
	for i, r := range rs {
		rep, err := r.app.Audit.Verify(context.Background())
		if err != nil {
			t.Fatalf("replica %d: audit verify: %v", i, err)
		}
		if len(rep.Errors) != 0 || rep.Events < 2*per {
			t.Errorf("replica %d: audit report %+v; want no errors and at least %d events", i, rep, 2*per)
		}
	}
}

type dupError struct{ k string }

func (e *dupError) Error() string { return "status entry handed out twice: " + e.k }

func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// While PostgreSQL is down a replica is not ready and refuses writes with
// 503 unavailable, committing nothing; once it is back the replica serves
// again by itself.
func TestReplicaDatabaseRestart(t *testing.T) {
	c := pgtest.Shared(t)
	r := startReplicas(t, 1)[0]
	if _, err := r.issue(t, r.admin, newKey(t), []string{"calendar:read"}); err != nil {
		t.Fatal(err)
	}
	ready := func() int {
		resp, err := r.hc.Get(r.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := ready(); st != http.StatusOK {
		t.Fatalf("/readyz before the restart: %d", st)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			c.Start()
		}
	}()
	if st := ready(); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the database is down: %d; want 503", st)
	}
	lost := newKey(t)
	_, err := r.issue(t, r.admin, lost, []string{"calendar:read"})
	var pe *client.Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusServiceUnavailable || pe.Code != api.CodeUnavailable {
		t.Fatalf("issuance while the database is down: %v; want 503 %s", err, api.CodeUnavailable)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := r.issue(t, r.admin, newKey(t), []string{"calendar:read"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuance 10s after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := ready(); st != http.StatusOK {
		t.Errorf("/readyz after the restart: %d", st)
	}
	// Nothing of the refused issuance was committed.
	var ag api.Agent
	err = r.admin.Do(context.Background(), http.MethodGet, "/v1/agents/"+lost.DID, nil, &ag)
	if code := problemCode(err); code != "unknown_agent" {
		t.Errorf("the agent whose issuance was refused: %v %+v; want unknown_agent", err, ag)
	}
	rep, err := r.app.Audit.Verify(context.Background())
	if err != nil || len(rep.Errors) > 0 {
		t.Errorf("audit chain after the restart: %v %+v", err, rep)
	}
}

// A status change acknowledged by one replica is seen by the other's very
// next verification, though that replica had cached the credential's
// status as clear: suspension, reinstatement and revocation, in turn.
func TestReplicaStatusChangeSeenAtOnce(t *testing.T) {
	rs := startReplicas(t, 2)
	a, b := rs[0], rs[1]
	agent := newKey(t)
	out, err := a.issue(t, a.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	a.expectVerify(t, agent, out.Credential, "") // A caches the status as clear
	for _, step := range []struct{ action, want string }{
		{"suspend", "suspended"}, {"reinstate", ""}, {"revoke", "revoked"},
	} {
		var cr api.Credential
		if err := b.admin.Do(context.Background(), http.MethodPost, "/v1/credentials/"+out.ID+"/"+step.action, nil, &cr); err != nil {
			t.Fatalf("%s on B: %v", step.action, err)
		}
		a.expectVerify(t, agent, out.Credential, step.want) // at once: no waiting for a notification
	}
}

// On PostgreSQL a verification answered from cached status bits is
// confirmed by the generation its replay record read, in the same
// statement: once the cache is filled, verifications read no generation
// of their own, until a status change moves it (and the change is seen at
// once, as above).
func TestReplicaVerifyConfirmsInRecord(t *testing.T) {
	r := startReplicas(t, 1)[0]
	cs, ok := r.s.ownStatus.(*cachedStatus)
	if !ok || !cs.fed {
		t.Fatalf("own status checker %T is not a fed cachedStatus", r.s.ownStatus)
	}
	agent := newKey(t)
	out, err := r.issue(t, r.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	r.expectVerify(t, agent, out.Credential, "") // fills the cache
	before := cs.genReads.Load()
	for range 20 {
		r.expectVerify(t, agent, out.Credential, "")
	}
	if n := cs.genReads.Load() - before; n != 0 {
		t.Fatalf("%d generation reads of their own for 20 cached verifications, want 0", n)
	}
	var cr api.Credential
	if err := r.admin.Do(context.Background(), http.MethodPost, "/v1/credentials/"+out.ID+"/suspend", nil, &cr); err != nil {
		t.Fatal(err)
	}
	r.expectVerify(t, agent, out.Credential, "suspended")
	if cs.genReads.Load() == before {
		t.Fatal("the status change was not read through")
	}
}

// A status change is signed once, by one replica, and every replica
// serves that same list credential (same bytes, same ETag).
func TestReplicasSignListOnce(t *testing.T) {
	rs := startReplicas(t, 2)
	a, b := rs[0], rs[1]
	evA, evB := a.events(t), b.events(t)
	var creds []*api.Issued
	for range 3 {
		out, err := a.issue(t, a.admin, newKey(t), []string{"calendar:read"})
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, out)
	}
	list := strings.Split(statusIndex(t, creds[0].Credential), "#")[0]
	path := list[strings.Index(list, "/status/"):]
	fetch := func(r *replica) (string, string) {
		t.Helper()
		resp, err := r.hc.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(body), resp.Header.Get("ETag")
	}
	prevA, _ := fetch(a)
	prevB, _ := fetch(b)
	before := a.app.Publisher.Signatures() + b.app.Publisher.Signatures()
	// changedFrom fetches r's list until it is not prev, within the second
	// the change takes to reach every replica. An event alone does not
	// say the change was seen: a replica whose listening connection was
	// (re)established re-announces its lists (it may have missed
	// changes), and a startup's reconnections can land after the first
	// fetch, leaving such an event queued before the revocation's.
	changedFrom := func(r *replica, prev string) (string, string) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			body, etag := fetch(r)
			if body != prev || time.Now().After(deadline) {
				return body, etag
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i, c := range creds {
		r := rs[i%2]
		var cr api.Credential
		if err := r.admin.Do(context.Background(), http.MethodPost, "/v1/credentials/"+c.ID+"/revoke", nil, &cr); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, evA, list, time.Second)
		waitEvent(t, evB, list, time.Second)
		bodyA, etagA := changedFrom(a, prevA)
		bodyB, etagB := changedFrom(b, prevB)
		prevA, prevB = bodyA, bodyB
		if bodyA != bodyB || etagA != etagB || etagA == "" {
			t.Fatalf("revocation %d: the replicas serve different list credentials (ETags %s, %s)", i, etagA, etagB)
		}
	}
	if n := a.app.Publisher.Signatures() + b.app.Publisher.Signatures() - before; n != int64(len(creds)) {
		t.Errorf("%d revocations made %d signatures across the replicas; want %d (one per change)", len(creds), n, len(creds))
	}
}
