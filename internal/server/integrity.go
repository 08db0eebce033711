package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/store"
)

// ActionIntegrityMigrate is the audit action of the one-time sealing of
// the records of a data directory upgraded from a release without record
// MACs.
const ActionIntegrityMigrate = "integrity.migrate"

// migrate runs when the integrity root was made by this start: it seals
// every record written before record MACs, in one transaction with its
// audit event (the first keyed event of an upgraded log). A fresh data
// directory has nothing to seal and writes no event.
//
// Whoever can write the database could delete the integrity root, strip
// every MAC and rewrite the whole audit log unkeyed, and so pass for a
// directory from before the upgrade: then this migration seals what they
// wrote. Only a signed head kept outside the database exposes that (its
// hash no longer matches the log): see docs/audit.md.
func (a *App) migrate(ctx context.Context) error {
	var recs, lists int
	seq, _, err := a.Audit.Head(ctx)
	if err != nil {
		return err
	}
	err = a.DB.Update(ctx, func(tx store.Tx) error {
		var err error
		if recs, err = a.Issuer.SealRecordsTx(tx); err != nil {
			return err
		}
		if lists, err = a.Status.SealRecordsTx(tx); err != nil {
			return err
		}
		if recs+lists == 0 && seq == 0 {
			return nil
		}
		return a.Audit.AppendTx(tx, &audit.Event{Action: ActionIntegrityMigrate, Decision: audit.DecisionAllow,
			Detail: fmt.Sprintf("sealed %d issuer records and %d status-list records with MACs; audit events are keyed from here", recs, lists)})
	})
	if err != nil {
		return fmt.Errorf("server: integrity migration: %w", err)
	}
	if recs+lists > 0 || seq > 0 {
		a.log.Warn("integrity: upgraded data directory: records sealed with MACs, audit chain keyed from now on",
			"issuerRecords", recs, "statusRecords", lists, "auditEvents", seq)
	}
	return nil
}

// checkIntegrity is the start-up check: every issuer record must carry a
// valid MAC, and the audit chain must verify from the latest signed head
// (whose signature is checked with the issuer key) to its end, MACs
// included; without a signed head the whole chain is verified. Events
// before that head are not re-checked at start (a full check of a large
// log is slow): `agentid audit verify` checks them all.
func (a *App) checkIntegrity(ctx context.Context) error {
	bad, err := a.Issuer.CheckRecords(ctx, 10)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: stored records fail their MAC: %s", ErrIntegrity, strings.Join(bad, ", "))
	}
	if err := a.checkBase(ctx); err != nil {
		return err
	}
	opts := audit.ChainOptions{RequireKeyed: true}
	tok, err := a.Audit.LatestSignedHead(ctx)
	if err != nil {
		return err
	}
	if tok != "" {
		h, err := issuerVerifyHead(ctx, a, tok)
		switch {
		case errors.Is(err, issuer.ErrHeadOtherIssuer):
			// The issuer URL changed since: verify the whole chain.
			a.log.Info("the stored signed head names another issuer DID; verifying the whole audit chain", "err", err)
		case err != nil:
			return fmt.Errorf("%w: the stored signed head does not verify: %v", ErrIntegrity, err)
		default:
			opts.From, opts.Head = h.Seq, h
		}
	}
	rep, err := a.Audit.VerifyWith(ctx, opts)
	if err != nil {
		if rep == nil {
			return err
		}
		return fmt.Errorf("%w: audit chain: %w", ErrIntegrity, err)
	}
	a.log.Info("integrity check passed", "auditFrom", max(opts.From, 1), "auditTo", rep.LastSeq)
	return nil
}

// startHeadSigner signs the chain head every HeadInterval when it moved.
func (a *App) startHeadSigner() {
	iv := a.cfg.HeadInterval
	if iv == 0 {
		iv = time.Minute
	}
	if iv < 0 {
		return
	}
	a.stopHeads, a.headsDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(a.headsDone)
		t := time.NewTicker(iv)
		defer t.Stop()
		var last uint64
		for {
			select {
			case <-a.stopHeads:
				return
			case <-t.C:
			}
			seq, _, err := a.Audit.Head(context.Background())
			if err != nil || seq == last {
				continue
			}
			if _, _, err := a.Issuer.SignAuditHead(context.Background()); err != nil {
				a.log.Error("signing the audit head failed", "err", err)
				continue
			}
			last = seq
		}
	}()
}

func issuerVerifyHead(ctx context.Context, a *App, tok string) (*audit.Head, error) {
	return issuer.VerifyAuditHead(ctx, tok, a.Issuer.DID(), a.Issuer.KeyResolver())
}
