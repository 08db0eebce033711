package verifier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

func wantReason(t testing.TB, err error, code reason.Code) {
	t.Helper()
	if got, _ := reason.CodeOf(err); got != code {
		t.Fatalf("got %v, want reason %q", err, code)
	}
}

// TestReplayFloodFromFreshKeys: presentations from fresh did:keys, each
// refused (no credential, another agent's credential, an admission that
// refuses them), leave nothing in the replay cache, so that a valid agent
// and an admitted holder are still served afterwards, and their replays
// still refused as replayed. Before recording moved after the checks, the
// flood filled this small cache and the valid calls failed as replayed.
func TestReplayFloodFromFreshKeys(t *testing.T) {
	const flood = 600
	cache := NewMemoryReplayCacheQuota(64*4, 4) // 5 entries a shard, 4 a holder
	e := newEnv(t, WithReplayCache(cache))
	cred := e.credential(e.agent.DID, nil)
	refuse := errors.New("not a principal")
	for i := range flood {
		a := verifiertest.NewAgent(t, e.keys)
		var err error
		switch i % 3 {
		case 0: // carries another agent's credential
			_, err = e.v.Verify(context.Background(), e.present(a, cred, nil), req())
			wantReason(t, err, reason.HolderMismatch)
		case 1: // carries no credential
			_, err = e.v.Verify(context.Background(), e.present(a, "", func(p *vc.Presentation) { p.VerifiableCredential = nil }), req())
			wantReason(t, err, reason.Malformed)
		case 2: // an unknown principal at the issuer
			_, err = e.v.AuthenticateHolder(context.Background(), e.present(a, "", func(p *vc.Presentation) { p.VerifiableCredential = nil }), req(),
				func(context.Context, *vc.Presentation) error { return refuse })
			if !errors.Is(err, refuse) {
				t.Fatalf("admission refusal: got %v", err)
			}
		}
	}
	if n := cache.Len(); n != 0 {
		t.Fatalf("the flood left %d entries in the replay cache", n)
	}
	// A valid agent: accepted once, its replay refused.
	for range 3 {
		p := e.present(e.agent, cred, nil)
		if _, err := e.v.Verify(context.Background(), p, req()); err != nil {
			t.Fatalf("valid agent after the flood: %v", err)
		}
		_, err := e.v.Verify(context.Background(), p, req())
		wantReason(t, err, reason.Replayed)
	}
	// An admitted holder (a principal): likewise.
	admin := verifiertest.NewAgent(t, e.keys)
	ok := func(context.Context, *vc.Presentation) error { return nil }
	for range 3 {
		p := e.present(admin, "", func(p *vc.Presentation) { p.VerifiableCredential = nil })
		if _, err := e.v.AuthenticateHolder(context.Background(), p, req(), ok); err != nil {
			t.Fatalf("principal after the flood: %v", err)
		}
		_, err := e.v.AuthenticateHolder(context.Background(), p, req(), ok)
		wantReason(t, err, reason.Replayed)
	}
}

// TestReplayConcurrentUse: of many concurrent uses of one presentation,
// exactly one is accepted; the others are replayed.
func TestReplayConcurrentUse(t *testing.T) {
	e := newEnv(t)
	p := e.present(e.agent, e.credential(e.agent.DID, nil), nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	okCount, replayed := 0, 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.v.Verify(context.Background(), p, req())
			code, _ := reason.CodeOf(err)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				okCount++
			case code == reason.Replayed:
				replayed++
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if okCount != 1 || replayed != 15 {
		t.Fatalf("%d accepted, %d replayed; want 1 and 15", okCount, replayed)
	}
}

// TestReplayQuotaPerHolder: one holder filling its quota cannot take the
// room of another, and gets its room back as its entries expire.
func TestReplayQuotaPerHolder(t *testing.T) {
	c := NewMemoryReplayCacheQuota(64*100, 10)
	now := time.Unix(1000, 0)
	exp := now.Add(time.Minute)
	for i := range 10 {
		if err := c.Record("greedy", fmt.Sprint(i), exp, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Record("greedy", "10", exp, now); !errors.Is(err, ErrReplayFull) {
		t.Fatalf("over quota: got %v, want ErrReplayFull", err)
	}
	if err := c.Record("greedy", "3", exp, now); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: got %v, want ErrReplayed", err)
	}
	if err := c.Record("other", "1", exp, now); err != nil {
		t.Fatalf("another holder: %v", err)
	}
	if !c.Seen("greedy", "3", now) || c.Seen("greedy", "10", now) {
		t.Fatal("Seen disagrees with Record")
	}
	later := exp.Add(time.Second)
	if err := c.Record("greedy", "10", later.Add(time.Minute), later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// TestReplayBusyAgent: a busy agent is not a flood. With the default
// cache, one holder records 20,000 live presentations (about 330 requests
// a second with 60 s presentations); the first per-holder quota, a quarter
// of one shard (3,906), refused it from the 3,907th on.
func TestReplayBusyAgent(t *testing.T) {
	c := NewMemoryReplayCache(0)
	now := time.Unix(1000, 0)
	exp := now.Add(time.Minute)
	for i := range 20_000 {
		if err := c.Record("did:key:zBusy", fmt.Sprint(i), exp, now); err != nil {
			t.Fatalf("presentation %d: %v", i, err)
		}
	}
	if err := c.Record("did:key:zBusy", "7", exp, now); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: got %v, want ErrReplayed", err)
	}
}
