package approvalfeed

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/agentid/agentid/issuer"
)

func TestServeWritesEventsUntilNotLive(t *testing.T) {
	ch := make(chan issuer.ApprovalEvent, 2)
	ch <- issuer.ApprovalEvent{Type: "pending", Approval: &issuer.Approval{ID: "a1"}}
	ch <- issuer.ApprovalEvent{Type: "approved", Approval: &issuer.Approval{ID: "a1"}}
	asked := 0
	live := func() bool { asked++; return asked == 1 }
	w := httptest.NewRecorder()
	Serve(context.Background(), w, ch, live, func(ev issuer.ApprovalEvent) any {
		return map[string]string{"id": ev.Approval.ID}
	})
	if got, want := w.Body.String(), ": approvals\n\nevent: pending\ndata: {\"id\":\"a1\"}\n\n"; got != want {
		t.Fatalf("stream = %q, want %q", got, want)
	}
	for h, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if w.Code != 200 || !w.Flushed {
		t.Errorf("code %d flushed %v, want 200 and flushed", w.Code, w.Flushed)
	}
}

func TestServeEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	Serve(ctx, w, make(chan issuer.ApprovalEvent), nil, func(issuer.ApprovalEvent) any { return nil })
	if got, want := w.Body.String(), ": approvals\n\n"; got != want {
		t.Fatalf("stream = %q, want %q", got, want)
	}
}
