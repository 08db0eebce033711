package verifier

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier/verifiertest"
)

// provisional is a ProvisionalStatus over verifiertest.Status: CheckHeld
// answers from held (what a cache would hold) and its confirm returns
// what the source says by then (source.Check), as a checker whose
// generation moved does. Every call is logged, with the replay record's.
type provisional struct {
	source *verifiertest.Status
	held   bool // CheckHeld answers (ok) or leaves it to Check
	moved  bool // confirm finds the source changed and checks it
	log    *[]string
}

func (p *provisional) Check(ctx context.Context, iss string, e []vc.StatusEntry) error {
	*p.log = append(*p.log, "check")
	return p.source.Check(ctx, iss, e)
}

func (p *provisional) CheckHeld(ctx context.Context, iss string, e []vc.StatusEntry) (func(context.Context) error, bool) {
	*p.log = append(*p.log, "held")
	if !p.held {
		return nil, false
	}
	return func(ctx context.Context) error {
		*p.log = append(*p.log, "confirm")
		if !p.moved {
			return nil
		}
		return p.Check(ctx, iss, e)
	}, true
}

type loggedReplay struct {
	*MemoryReplayCache
	log *[]string
}

func (r loggedReplay) Record(holder, jti string, exp, now time.Time) error {
	*r.log = append(*r.log, "record")
	return r.MemoryReplayCache.Record(holder, jti, exp, now)
}

// TestProvisionalStatus: a status answered from what the checker holds is
// confirmed after the jti is recorded, never before; a confirmation that
// finds the credential revoked refuses it with the exact code (and the
// presentation is spent); a checker that holds nothing is asked as
// usual, and a replay is refused before any confirmation.
func TestProvisionalStatus(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		held, moved bool
		revoke      bool
		want        reason.Code
		calls       []string
	}{
		{"held and unchanged", true, false, false, "", []string{"held", "record", "confirm"}},
		{"held, source changed, still clear", true, true, false, "", []string{"held", "record", "confirm", "check"}},
		{"held, source changed to revoked", true, true, true, reason.Revoked, []string{"held", "record", "confirm", "check"}},
		{"not held", false, false, false, "", []string{"held", "check", "record"}},
		{"not held, revoked", false, false, true, reason.Revoked, []string{"held", "check"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			e := &env{t: t, clock: verifiertest.NewClock(t0), keys: new(verifiertest.Keys), status: new(verifiertest.Status)}
			e.issuer = verifiertest.NewIssuer(t, issuerDID, e.keys)
			e.agent = verifiertest.NewAgent(t, e.keys)
			ps := &provisional{source: e.status, held: tc.held, moved: tc.moved, log: &log}
			e.build(WithStatusChecker(ps), WithReplayCache(loggedReplay{NewMemoryReplayCache(0), &log}))
			cred := e.credential(e.agent.DID, nil)
			if tc.revoke {
				e.status.Set(verifiertest.StatusIndex(t, cred, "revocation"), reason.New(reason.Revoked, "revoked"))
			}
			vp := e.present(e.agent, cred, nil)
			_, err := e.v.Verify(ctx, vp, req("calendar:read"))
			if code, _ := reason.CodeOf(err); code != tc.want {
				t.Fatalf("code %q (%v), want %q", code, err, tc.want)
			}
			if !slices.Equal(log, tc.calls) {
				t.Fatalf("calls %v, want %v", log, tc.calls)
			}
			// Whatever the answer after the record, the presentation is
			// spent; one refused before it is not recorded.
			log = nil
			_, err = e.v.Verify(ctx, vp, req("calendar:read"))
			want := reason.Replayed
			if tc.want != "" && !tc.held {
				want = tc.want
			}
			if code, _ := reason.CodeOf(err); code != want {
				t.Fatalf("again: code %q (%v), want %q", code, err, want)
			}
			if slices.Contains(log, "confirm") {
				t.Fatalf("a replay was confirmed: %v", log)
			}
		})
	}
	var _ ProvisionalStatus = (*provisional)(nil)
}
