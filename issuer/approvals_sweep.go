package issuer

import (
	"context"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// ActionApprovalExpire is the audit action of a request that expired
// undecided (actor "system").
const ActionApprovalExpire = "approval.expire"

// DefaultApprovalRetention is how long a decided or expired approval is
// kept (for its requester to fetch, and in the list) when
// Config.ApprovalRetention is 0; its history stays in the audit log.
const DefaultApprovalRetention = 7 * 24 * time.Hour

// SweepApprovals marks every pending request past its expiry as expired,
// each with an ActionApprovalExpire audit event in the same transaction,
// and tells the approval feed (here, and through the store's
// announcements every process sharing it); it deletes decided and expired
// requests whose decision or expiry is older than the retention. It
// returns how many it expired and deleted, and when the next pending
// request expires (zero when none is pending).
//
// Until a sweep marks it, a request past its expiry already reads as
// expired everywhere (status is computed at read), and cannot be decided;
// the sweep makes the change durable and visible to feed subscribers.
func (is *Issuer) SweepApprovals(ctx context.Context) (expired, pruned int, next time.Time, err error) {
	exact := is.cfg.Now()
	now := exact.UTC().Truncate(time.Second)
	keep := is.cfg.ApprovalRetention
	if keep == 0 {
		keep = DefaultApprovalRetention
	}
	err = is.db.Update(ctx, func(tx store.Tx) error {
		expired, pruned, next = 0, 0, time.Time{}
		var due []approvalRecord
		var old [][]byte
		b := tx.Bucket(bucketApprovals)
		err := b.Range(nil, func(k, v []byte) error {
			var r approvalRecord
			if err := decodeJSON(tx, bucketApprovals, k, v, &r); err != nil {
				return err
			}
			switch {
			case r.Status == ApprovalPending && !exact.Before(r.ExpiresAt):
				due = append(due, r)
			case r.Status == ApprovalPending:
				if next.IsZero() || r.ExpiresAt.Before(next) {
					next = r.ExpiresAt
				}
			default:
				end := r.ExpiresAt
				if r.DecidedAt != nil {
					end = *r.DecidedAt
				}
				if exact.Sub(end) > keep {
					old = append(old, append([]byte(nil), k...))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range due {
			r := &due[i]
			r.Status = ApprovalExpired
			if err := putJSON(tx, bucketApprovals, r.ID, r); err != nil {
				return err
			}
			ev := is.event(nil, ActionApprovalExpire)
			ev.Time, ev.Decision, ev.Resource, ev.Subject, ev.Scopes = now, audit.DecisionAllow, r.ID, r.Agent.DID, r.NeedApproval
			ev.Detail = "requested by " + r.Requester + "; expired undecided at " + r.ExpiresAt.Format(time.RFC3339)
			ev.Delegation = auditChain(r.Agent.Delegation)
			if err := is.audit.AppendTx(tx, ev); err != nil {
				return err
			}
			v := r.view("", now)
			announceApproval(tx, r.ID)
			tx.OnCommit(func() { is.approvals.publish(ApprovalEvent{Type: ApprovalExpired, Approval: v}) })
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		expired, pruned = len(due), len(old)
		return nil
	})
	if err != nil {
		return 0, 0, time.Time{}, wrapInternal(err, "sweep approvals")
	}
	return expired, pruned, next, nil
}

// approvalSweepEvery bounds the wait between sweeps: requests made by
// other processes sharing the store are seen at the latest then, and
// records past their retention are deleted.
const approvalSweepEvery = time.Minute

// RunApprovalSweeper sweeps approvals (SweepApprovals) until ctx ends: at
// once, then one second after the next pending request expires (a request
// made here, or announced by another process sharing the store, re-arms
// the wait when it expires sooner), and at least every minute. An expired
// request is thus announced on the feed about a second after its expiry.
// Failures are logged and retried at the next wake.
func (is *Issuer) RunApprovalSweeper(ctx context.Context) {
	for {
		changed := is.approvals.wait()
		is.approvals.takeEarliest() // the sweep sees every request committed before it
		expired, pruned, next, err := is.SweepApprovals(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			is.log.Error("approval sweep failed", "err", err)
		case expired > 0 || pruned > 0:
			is.log.Info("approvals swept", "expired", expired, "pruned", pruned)
		}
		at := is.cfg.Now().Add(approvalSweepEvery)
		if !next.IsZero() && next.Before(at) {
			at = next
		}
		t := time.NewTimer(max(at.Sub(is.cfg.Now()), 0) + time.Second)
	sleep:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
				break sleep
			case <-changed:
				changed = is.approvals.wait()
				if e := is.approvals.takeEarliest(); !e.IsZero() && e.Before(at) {
					at = e
					t.Reset(max(at.Sub(is.cfg.Now()), 0) + time.Second)
				}
			}
		}
	}
}

// takeEarliest returns the earliest expiry of the pending requests
// published since the last call (zero when none), and forgets it.
func (h *approvalHub) takeEarliest() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.earliest
	h.earliest = time.Time{}
	return e
}
