package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// unavailable reports whether err is the storage (or the audit log on it)
// failing underneath an operation: a full disk, an I/O error. Such an
// operation was not done, and the caller may retry once the operator has
// made room; it is neither a refusal nor a bug.
func unavailable(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, audit.ErrUnavailable)
}

// probeEvery bounds how often a failing /readyz writes to find out
// whether the storage is back.
const probeEvery = time.Second

// healthBucket holds the one key readiness probes overwrite.
const healthBucket = "server.health"

// health is the store as the server uses it, watching every write's
// outcome: the first write that fails with store.ErrUnavailable makes the
// server not ready (logged once, with the cause), and the next that
// commits makes it ready again. While failing, readiness probes with a
// small write of its own, so that it comes back by itself once the disk
// has room, without waiting for a client's request.
type health struct {
	store.Store
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	failing   error // the last write's failure; nil when writes commit
	since     time.Time
	lastProbe time.Time

	failures atomic.Uint64 // writes failed by the storage
	down     atomic.Bool

	// ping, when set, checks that a shared database answers: a replica
	// that cannot reach it is not ready, whether or not it wrote lately.
	ping func(context.Context) error
}

func newHealth(st store.Store, log *slog.Logger, now func() time.Time) *health {
	return &health{Store: st, log: log, now: now}
}

// Update implements store.Store, noting the outcome.
func (h *health) Update(ctx context.Context, fn func(store.Tx) error) error {
	before := h.failures.Load()
	err := h.Store.Update(ctx, fn)
	h.note(err, before)
	return err
}

// Batch implements store.Store, noting the outcome.
func (h *health) Batch(ctx context.Context, fn func(store.Tx) error) error {
	before := h.failures.Load()
	err := h.Store.Batch(ctx, fn)
	h.note(err, before)
	return err
}

// note records the outcome of a write that began when h.failures was
// before. A write that fn rolled back (a refusal) says nothing about the
// storage and changes nothing; nor does the commit of a write that was
// already under way when a later one failed (it says the storage was
// fine, not that it is again: the state would flap, logging each time).
func (h *health) note(err error, before uint64) {
	switch {
	case err == nil:
		if !h.down.Load() {
			return
		}
		h.mu.Lock()
		if h.failing != nil && h.failures.Load() == before {
			h.log.Info("storage available again: writes commit, ready", "unavailableFor", h.now().Sub(h.since).Round(time.Millisecond).String())
			h.failing = nil
			h.down.Store(false)
		}
		h.mu.Unlock()
	case errors.Is(err, store.ErrUnavailable):
		h.failures.Add(1)
		h.mu.Lock()
		if h.failing == nil {
			h.since = h.now()
			h.log.Error("storage unavailable: writes fail and the server answers 503 and is not ready until one commits", "err", err)
		}
		h.failing = err
		h.down.Store(true)
		h.mu.Unlock()
	}
}

// check returns the storage failure, if writes are failing. While they
// are, it first tries one small write (at most once per probeEvery), whose
// success clears the failure.
func (h *health) check(ctx context.Context) error {
	if h.ping != nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := h.ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
	if !h.down.Load() {
		return nil
	}
	h.mu.Lock()
	probe := h.now().Sub(h.lastProbe) >= probeEvery
	if probe {
		h.lastProbe = h.now()
	}
	h.mu.Unlock()
	if probe {
		stamp := []byte(h.now().UTC().Format(time.RFC3339Nano))
		_ = h.Update(ctx, func(tx store.Tx) error { return tx.Bucket(healthBucket).Put([]byte("probe"), stamp) })
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failing
}

// collectors are the Prometheus series of the storage's health.
func (h *health) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "agentid_storage_unavailable",
			Help: "1 while writes to the data directory fail (full disk, I/O error): the server answers 503 unavailable and /readyz is not ready; 0 once a write commits.",
		}, func() float64 {
			if h.down.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "agentid_storage_write_failures_total",
			Help: "Store transactions that failed because the storage failed underneath (ENOSPC, EIO, EFBIG, …).",
		}, func() float64 { return float64(h.failures.Load()) }),
	}
}
