// Package approvalfeed writes the issuer's approval events as a
// server-sent-events stream: the one loop behind GET /v1/approvals/events
// (internal/server) and the console's approvals feed (internal/console),
// which differ only in what each event carries and in how the console
// re-checks its session.
//
//	ch, stop, err := is.SubscribeApprovals(p)
//	if err != nil { … }
//	defer stop()
//	approvalfeed.Serve(r.Context(), w, ch, nil, func(ev issuer.ApprovalEvent) any { return ev.Approval })
//
// Each event is "event: <status>" with data(ev) as JSON; a comment line
// every KeepAlive keeps an idle stream open through proxies.
package approvalfeed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/agentid/agentid/issuer"
)

// KeepAlive is how often an idle feed sends a comment line.
const KeepAlive = 15 * time.Second

// Serve answers 200 with a text/event-stream of the events on ch, until
// ctx ends, a write fails, data cannot be encoded or live (when not nil)
// reports false; live is asked before every event and keep-alive. w must
// be an http.Flusher for events to go out as they come.
func Serve(ctx context.Context, w http.ResponseWriter, ch <-chan issuer.ApprovalEvent, live func() bool, data func(issuer.ApprovalEvent) any) {
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": approvals\n\n")
	flush()
	tick := time.NewTicker(KeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if live != nil && !live() {
				return
			}
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
		case ev := <-ch:
			if live != nil && !live() {
				return
			}
			b, err := json.Marshal(data(ev))
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b); err != nil {
				return
			}
		}
		flush()
	}
}
