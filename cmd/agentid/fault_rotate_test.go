package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
)

// TestFaultKillDuringRotate kills -9 the real server while two admin
// connections rotate the issuer key in a loop, restarts it on the same
// data, and checks that a key and its key.rotate event were committed
// together: every key but the one from init has exactly one allow event
// naming it, every event names a key that exists, every rotation answered
// 200 is there, and the audit chain verifies. (It used to commit the key,
// then the event in another transaction: after two kills, 194 keys and
// 188 events, and the primary had none.)
func TestFaultKillDuringRotate(t *testing.T) {
	bin, dir := buildAgentid(t)
	cmd, base := startChild(t, bin, dir, "")
	ctx := context.Background()
	admin, err := client.LoadKey(filepath.Join(dir, server.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	initial, err := client.New(base, admin).Keys(ctx)
	if err != nil || len(initial) != 1 {
		t.Fatalf("keys after init: %v %v", initial, err)
	}
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for range 2 {
		wg.Go(func() {
			cl := client.New(base, admin)
			for {
				select {
				case <-stop:
					return
				default:
				}
				k, err := cl.RotateKey(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				acked = append(acked, k.KID)
				mu.Unlock()
			}
		})
	}
	killUnderLoad(t, cmd, stop, &wg)
	if len(acked) < 5 {
		t.Fatalf("only %d rotations answered before the kill: the load did not run", len(acked))
	}

	_, base = startChild(t, bin, dir, "127.0.0.1:"+strings.TrimPrefix(base, "http://localhost:"))
	cl := client.New(base, admin)
	keys, err := cl.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	var primary string
	for _, k := range keys {
		have[k.KID] = true
		if k.Primary {
			primary = k.KID
		}
	}
	for _, kid := range acked {
		if !have[kid] {
			t.Errorf("rotation to %s acknowledged, key missing after the restart", kid)
		}
	}
	events := map[string]int{}
	var after uint64
	for {
		evs, err := cl.Audit(ctx, client.AuditFilter{Action: audit.ActionKeyRotate, Limit: 10_000, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			after = max(after, e.Seq)
			if e.Decision == audit.DecisionAllow {
				events[e.Resource]++
			}
		}
		if len(evs) < 10_000 {
			break
		}
	}
	for _, k := range keys {
		if k.KID == initial[0].KID {
			continue
		}
		if events[k.KID] != 1 {
			t.Errorf("key %s (primary %v): %d key.rotate events, want 1", k.KID, k.KID == primary, events[k.KID])
		}
	}
	for kid := range events {
		if !have[kid] {
			t.Errorf("key.rotate event for %s, which does not exist", kid)
		}
	}
	if len(keys) != len(events)+1 {
		t.Errorf("%d keys and %d key.rotate events; want one event for each key but the first", len(keys), len(events))
	}
	t.Logf("%d rotations acknowledged before kill -9; %d keys, %d events after the restart", len(acked), len(keys), len(events))
	rep, err := cl.AuditVerify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit verify after the kill: %v %+v", err, rep)
	}
}
