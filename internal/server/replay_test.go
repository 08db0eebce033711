package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/verifier"
)

// TestFaultReplayAfterRestart: a principal call and a presentation to the
// verifier service, each accepted once and refused as replayed, are still
// refused after the server restarts (it used to forget them: 200 and
// valid again).
func TestFaultReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir)
	addr := strings.TrimPrefix(ts.url, "http://localhost")
	addr = "127.0.0.1" + addr
	ctx := context.Background()

	agent := newKey(t)
	issued, err := ts.issue(t, ts.admin, agent, []string{"calendar:read"})
	if err != nil {
		t.Fatal(err)
	}
	vp, err := agent.Present(client.PresentOptions{Credential: issued.Credential, Audience: "https://calendar.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(ts *testServer) api.VerifyResponse {
		var res api.VerifyResponse
		if err := client.New(ts.url, nil).Do(ctx, http.MethodPost, "/v1/verify",
			api.VerifyRequest{Presentation: vp, Audience: "https://calendar.example.com"}, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	adminKey, err := client.LoadKey(dir + "/" + AdminKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	call, err := adminKey.Present(client.PresentOptions{Audience: ts.url, Method: http.MethodGet, URL: ts.url + "/v1/principals"})
	if err != nil {
		t.Fatal(err)
	}
	principals := func(ts *testServer) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/v1/principals", nil)
		req.Header.Set("Authorization", "VP "+call)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct {
			Code string `json:"code"`
		}
		_ = decodeJSON(resp, &p)
		return resp.StatusCode, p.Code
	}

	if r := verify(ts); !r.Valid {
		t.Fatalf("first verify: %+v", r)
	}
	if r := verify(ts); r.Valid || r.Error == nil || r.Error.Code != "replayed" {
		t.Fatalf("second verify: %+v, want replayed", r)
	}
	if s, _ := principals(ts); s != 200 {
		t.Fatalf("first principal call: %d", s)
	}
	if s, c := principals(ts); s != 401 || c != "replayed" {
		t.Fatalf("replayed principal call: %d %s", s, c)
	}

	ts.close()
	ts = startOn(t, dir, nil, addr)
	if r := verify(ts); r.Valid || r.Error == nil || r.Error.Code != "replayed" {
		t.Errorf("verify after restart: %+v, want replayed", r)
	}
	if s, c := principals(ts); s != 401 || c != "replayed" {
		t.Errorf("replayed principal call after restart: %d %s, want 401 replayed", s, c)
	}
	// A fresh presentation is accepted after the restart.
	if r := ts.verify(t, agent, issued.Credential); !r.Valid {
		t.Errorf("fresh presentation after restart: %+v", r)
	}
	// On disk: both journals hold their entries.
	ts.close()
	for _, b := range []string{bucketReplayIssuer, bucketReplayVerify} {
		n := countBucket(t, dir, b)
		if n == 0 {
			t.Errorf("bucket %s is empty", b)
		}
	}
	_ = verifier.ErrReplayed
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// countBucket counts the records of bucket in dir's database.
func countBucket(t *testing.T, dir, bucket string) int {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(dir, DBFile), &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(context.Background(), func(tx store.Tx) error {
		return tx.Bucket(bucket).Range(nil, func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
