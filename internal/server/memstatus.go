package server

import (
	"context"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/vc"
)

// memStatus is the status checker of the issuer's own credentials on a
// bbolt file: the issuer's checker (issuer's localStatus) answering from
// an in-memory copy of each list's bits (publish.BitCache) instead of a
// read transaction per check. The copy of a list is dropped in the
// OnCommit of the transaction that changes it, before the change is
// acknowledged, so a revocation acknowledged to its caller is seen by the
// next check; only this process writes the file.
type memStatus struct {
	bits *publish.BitCache
}

func (m *memStatus) Check(ctx context.Context, _ string, entries []vc.StatusEntry) error {
	if len(entries) == 0 {
		return reason.New(reason.StatusUnavailable, "credential has no status entries")
	}
	for _, e := range entries {
		set, err := m.bits.Status(ctx, e)
		if err != nil {
			return reason.Wrap(reason.StatusUnavailable, "status list", err)
		}
		if err := statusErr(e, set); err != nil {
			return err
		}
	}
	return nil
}
