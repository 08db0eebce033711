package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/audit/auditlog"
)

// SegmentsDir is the audit archive's directory inside the data directory.
const SegmentsDir = "audit-segments"

// retention is the archive policy of Config.
func (a *App) retention() auditlog.RetentionOptions {
	return auditlog.RetentionOptions{
		Dir:          filepath.Join(a.cfg.DataDir, SegmentsDir),
		SegmentBytes: a.cfg.AuditSegmentBytes, SegmentAge: a.cfg.AuditSegmentAge,
		KeepSegments: a.cfg.AuditKeepSegments, KeepFor: a.cfg.AuditKeepFor,
		Sign: func(ctx context.Context, h audit.Head) (string, error) { return a.Issuer.SignHead(ctx, &h) },
	}
}

// RollAudit applies the retention policy once: it seals the log in the
// database into a segment file when it is due (always, with force, if it
// holds events), then prunes segment files. It returns the segment
// sealed, if any, and how many files were pruned.
func (a *App) RollAudit(ctx context.Context, force bool) (*auditlog.Segment, int, error) {
	opts := a.retention()
	seg, err := a.Audit.Roll(ctx, opts, force)
	if err != nil {
		return nil, 0, err
	}
	n, err := a.Audit.Prune(ctx, opts)
	return seg, n, err
}

// checkBase checks, at start, the signed head the database keeps for the
// events sealed out of it: it must verify with the issuer key and cover
// the base (an attacker who moved the base forward to hide deleted events
// cannot sign a head for it).
func (a *App) checkBase(ctx context.Context) error {
	tok, base, err := a.Audit.Base(ctx)
	if err != nil || base == nil {
		return err
	}
	h, err := issuerVerifyHead(ctx, a, tok)
	if err != nil {
		return fmt.Errorf("%w: the signed head of the sealed audit segments does not verify: %v", ErrIntegrity, err)
	}
	if base.Seq > h.Seq {
		return fmt.Errorf("%w: the audit log's base (event %d) is past the signed head of its sealed segments (event %d)", ErrIntegrity, base.Seq, h.Seq)
	}
	return nil
}

// startRetention runs RollAudit every Config.AuditRollInterval.
func (a *App) startRetention() {
	iv := a.cfg.AuditRollInterval
	if iv == 0 {
		iv = time.Minute
	}
	if iv < 0 {
		return
	}
	a.stopRoll, a.rollDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(a.rollDone)
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-a.stopRoll:
				return
			case <-t.C:
			}
			seg, n, err := a.RollAudit(context.Background(), false)
			switch {
			case err != nil:
				a.log.Error("audit retention failed", "err", err)
			case seg != nil || n > 0:
				a.log.Info("audit retention", "sealed", seg != nil, "prunedSegments", n)
			}
		}
	}()
}
