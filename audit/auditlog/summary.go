package auditlog

import (
	"context"
	"errors"
	"time"

	"github.com/agentid/agentid/audit"
)

// Summary scans the whole log and summarises, per agent, the events at or
// after since (the window), using the events before since as each agent's
// baseline; the window ends at the Log's clock. These are local anomaly
// rules over the audit trail (see [audit.SummaryBuilder]), meant to order
// an admin's attention, not to block anything.
func (l *Log) Summary(ctx context.Context, since time.Time, opts audit.SummaryOptions) (*audit.Summary, error) {
	b, err := audit.NewSummaryBuilder(since, l.now(), opts)
	if err != nil {
		return nil, err
	}
	err = l.scan(ctx, 0, nil, func(it item) error {
		b.Add(it.ev)
		return nil
	})
	if err != nil {
		var ce *audit.ChainError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, errorf("summary: %w", err)
	}
	return b.Summary(), nil
}
