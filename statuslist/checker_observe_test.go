package statuslist

import (
	"context"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// TestCheckerObserve: the observer sees one fetch per list obtained, one
// hit per lookup answered from the cache, and one fetch_error per failed
// fetch.
func TestCheckerObserve(t *testing.T) {
	ctx := context.Background()
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	var mu sync.Mutex
	got := map[string]int{}
	c, err := NewChecker(CheckerOptions{
		Keys:   newFakeKeys(signer),
		Client: &http.Client{Timeout: 2 * time.Second},
		Observe: func(ev string) {
			mu.Lock()
			got[ev]++
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := fs.put("/l", forgeList(t, signer, testIssuer, fs.base+"/l", New(MinSize), time.Now(), nil))
	check := func(u string, want reason.Code) {
		t.Helper()
		wantCode(t, c.Check(ctx, testIssuer, []vc.StatusEntry{entryFor(u, Revocation, 3)}), want)
	}
	check(u, "")                                        // fetch
	check(u, "")                                        // hit
	check(u, "")                                        // hit
	check(fs.base+"/missing", reason.StatusUnavailable) // fetch_error (404)
	check(fs.put("/bad", "not a jwt"), reason.StatusUnavailable)

	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{ObserveFetch: 1, ObserveHit: 2, ObserveFetchError: 2}
	if !maps.Equal(got, want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
}

// A nil Observe is a no-op.
func TestCheckerObserveNil(t *testing.T) {
	fs := newForgeServer(t)
	signer := newEdSigner(t, testKid)
	c, err := NewChecker(CheckerOptions{Keys: newFakeKeys(signer)})
	if err != nil {
		t.Fatal(err)
	}
	u := fs.put("/l", forgeList(t, signer, testIssuer, fs.base+"/l", New(MinSize), time.Now(), nil))
	for range 2 {
		wantCode(t, c.Check(context.Background(), testIssuer, []vc.StatusEntry{entryFor(u, Revocation, 3)}), "")
	}
}
