package server

import (
	"context"
	"time"

	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/store/pgstore"
)

// subscribeShared follows the changes other replicas make to what this
// one shows in its feeds and long polls (besides status lists and keys):
// approvals requested, approved or denied elsewhere reach this replica's
// approval feed (API and console) and wake its long polls.
func (a *App) subscribeShared(pg *pgstore.Store) {
	pg.Subscribe(issuer.TopicApprovals, func(id string, missed bool) {
		if missed {
			a.Issuer.ApprovalsMissed()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Issuer.ApprovalChanged(ctx, id); err != nil {
			a.log.Warn("approval announcement", "err", err)
		}
	})
}
