package issuer

import (
	"context"
	"fmt"

	"github.com/agentid/agentid/store"
)

// TopicApprovals is the store.Announcer topic of approval changes: the
// payload is the id of an approval that was requested, approved or
// denied. A process sharing the store with others passes each
// announcement it receives to [Issuer.ApprovalChanged], and a lost
// connection to [Issuer.ApprovalsMissed], so that its approval feed and
// long polls see what the others decided.
const TopicApprovals = "approvals"

// announceApproval tells the other processes sharing tx's store, once tx
// commits, that approval id changed.
func announceApproval(tx store.Tx, id string) {
	if a, ok := tx.(store.Announcer); ok {
		a.Announce(TopicApprovals, id)
	}
}

// ApprovalChanged is told that another process sharing the store changed
// approval id: it re-reads the approval and hands it to this process's
// approval feed subscribers and long polls, as a change made here is.
func (is *Issuer) ApprovalChanged(ctx context.Context, id string) error {
	var ev *ApprovalEvent
	err := is.db.View(ctx, func(tx store.Tx) error {
		var r approvalRecord
		ok, err := getJSON(tx, bucketApprovals, id, &r)
		if err != nil || !ok {
			return err
		}
		v := r.view("", is.cfg.Now())
		ev = &ApprovalEvent{Type: v.Status, Approval: v}
		return nil
	})
	if err != nil {
		// Wake the long polls at least: they re-read the store.
		is.ApprovalsMissed()
		return fmt.Errorf("issuer: approval %s changed elsewhere: %w", id, err)
	}
	if ev == nil {
		is.ApprovalsMissed()
		return nil
	}
	is.approvals.publish(*ev)
	return nil
}

// ApprovalsMissed is told that changes made by other processes may have
// been missed (the announcements' connection was re-established): every
// long poll re-reads its approval. Feed subscribers are not told of
// changes they missed.
func (is *Issuer) ApprovalsMissed() { is.approvals.wake() }

// wake wakes the long polls without an event for the feed.
func (h *approvalHub) wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	close(h.changed)
	h.changed = make(chan struct{})
}
