package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/verifier"
)

// Buckets of the replay journals: each flush writes one lot (see
// encodeLot: 0xFF and the lot's 8-byte number -> every record the flush
// carries); earlier releases wrote one record per jti (holder NUL jti ->
// expiry, Unix ns, big endian), which are still read. The issuer's
// presentations and the verifier service's are kept apart, as their
// in-memory caches are.
const (
	bucketReplayIssuer = "server.replay.issuer"
	bucketReplayVerify = "server.replay.verify"
)

// journaledReplay is a verifier.ReplayCache that outlives the process: a
// MemoryReplayCache answers every call, and each jti it records is also
// written to the store by a background writer, which commits whatever has
// gathered in one transaction. A verification never waits for that
// commit. At start the unexpired entries are loaded back, so a
// presentation accepted before a restart is refused (replayed) after it.
// What is lost is what a crash of the process (or the machine) catches
// between a record and its commit (at most replayFlushInterval and one
// commit); a clean Close writes everything.
//
// If a commit fails, the journal fails closed: every later Record is
// refused (the verifier answers replayed). When the store was only
// unavailable (a full disk), the pending records are kept and retried
// every replayFlushInterval, and Records are accepted again once a retry
// commits; any other failure holds until the process restarts.
type journaledReplay struct {
	mem    *verifier.MemoryReplayCache
	db     store.Store
	bucket string
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	pending []replayRec
	err     error
	lastGC  time.Time
	lastLot uint64 // key of the last lot written or loaded (the writer's)

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

type replayRec struct {
	holder, jti string
	exp         int64
}

// openReplay loads the journal in bucket and starts its writer.
func openReplay(ctx context.Context, db store.Store, bucket string, now func() time.Time, log *slog.Logger) (*journaledReplay, error) {
	j := &journaledReplay{mem: verifier.NewMemoryReplayCache(0), db: db, bucket: bucket, now: now, log: log,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	t := now()
	n := t.UnixNano()
	var expired [][]byte
	err := db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucket).Range(nil, func(k, v []byte) error {
			if isLotKey(k) {
				j.lastLot = max(j.lastLot, binary.BigEndian.Uint64(k[1:]))
				maxExp, ok := lotMaxExp(v)
				if !ok {
					return fmt.Errorf("server: replay journal %s: a lot of %d bytes", bucket, len(v))
				}
				if maxExp < n {
					expired = append(expired, bytes.Clone(k))
					return nil
				}
				return readLot(v, func(holder, jti []byte, exp int64) {
					if exp >= n {
						_ = j.mem.Record(string(holder), string(jti), time.Unix(0, exp), t)
					}
				})
			}
			if len(v) != 8 {
				return fmt.Errorf("server: replay journal %s: a record of %d bytes", bucket, len(v))
			}
			exp := int64(binary.BigEndian.Uint64(v))
			if exp < n {
				expired = append(expired, bytes.Clone(k))
				return nil
			}
			holder, jti, ok := bytes.Cut(k, []byte{0})
			if !ok {
				return fmt.Errorf("server: replay journal %s: a key without a separator", bucket)
			}
			// A full cache refuses new presentations; what it cannot
			// hold of the old ones is dropped here, as it would have been.
			_ = j.mem.Record(string(holder), string(jti), time.Unix(0, exp), t)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if len(expired) > 0 {
		if err := db.Update(ctx, func(tx store.Tx) error {
			b := tx.Bucket(bucket)
			for _, k := range expired {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("server: replay journal %s: %w", bucket, err)
		}
	}
	j.lastGC = t
	go j.run()
	return j, nil
}

// Seen implements verifier.ReplayCache.
func (j *journaledReplay) Seen(holder, jti string, now time.Time) bool {
	return j.mem.Seen(holder, jti, now)
}

// Record implements verifier.ReplayCache.
func (j *journaledReplay) Record(holder, jti string, exp, now time.Time) error {
	j.mu.Lock()
	err := j.err
	j.mu.Unlock()
	if err != nil {
		// Wrapping both: the verifier refuses (fail closed), and the
		// server sees a store unavailability and answers 503.
		return fmt.Errorf("%w: the replay journal cannot be written: %w", verifier.ErrReplayFull, err)
	}
	if err := j.mem.Record(holder, jti, exp, now); err != nil {
		return err
	}
	j.mu.Lock()
	j.pending = append(j.pending, replayRec{holder: holder, jti: jti, exp: exp.UnixNano()})
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return nil
}

// replayFlushInterval is the shortest time between two commits of the
// journal. Each commit takes the store's single writer lock, which the
// audit log's group commit (on which every verification waits) needs too:
// committing at once after each record halved the verifier service's
// throughput; gathering for this long costs about nothing (see
// docs/decisions.md), and is the most a crash can lose.
const replayFlushInterval = 100 * time.Millisecond

func (j *journaledReplay) run() {
	defer close(j.done)
	for {
		select {
		case <-j.wake:
			j.flush()
			select {
			case <-time.After(replayFlushInterval):
			case <-j.stop:
				j.flush()
				return
			}
		case <-j.stop:
			j.flush()
			return
		}
	}
}

// flush commits what is pending, and once a minute drops expired records.
func (j *journaledReplay) flush() {
	j.mu.Lock()
	recs := j.pending
	j.pending = nil
	failed := j.err != nil && !errors.Is(j.err, store.ErrUnavailable)
	j.mu.Unlock()
	now := j.now()
	gc := now.Sub(j.lastGC) >= time.Minute
	if failed || (len(recs) == 0 && !gc) {
		return
	}
	lot := j.lastLot
	err := j.db.Update(context.Background(), func(tx store.Tx) error {
		b := tx.Bucket(j.bucket)
		if len(recs) > 0 {
			// One record for the lot, under a key above every earlier
			// lot's (the clock may have gone back since).
			lot = max(j.lastLot+1, uint64(now.UnixNano()))
			if err := b.Put(lotKey(lot), encodeLot(recs)); err != nil {
				return err
			}
		}
		if !gc {
			return nil
		}
		var old [][]byte
		n := now.UnixNano()
		if err := b.Range(nil, func(k, v []byte) error {
			if isLotKey(k) {
				if e, ok := lotMaxExp(v); ok && e < n {
					old = append(old, bytes.Clone(k))
				}
			} else if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < n {
				old = append(old, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		j.lastLot = lot
		if gc {
			j.lastGC = now
		}
	}
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		// Keep the records, in order, for the retry.
		j.mu.Lock()
		j.pending = append(recs, j.pending...)
		first := j.err == nil
		j.err = err
		j.mu.Unlock()
		if first {
			j.log.Error("replay journal cannot be written: refusing presentations until the store is back", "bucket", j.bucket, "err", err)
		}
		time.AfterFunc(replayFlushInterval, func() {
			select {
			case j.wake <- struct{}{}:
			default:
			}
		})
		return
	}
	if err != nil {
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
		j.log.Error("replay journal cannot be written: refusing presentations until restart", "bucket", j.bucket, "err", err)
		return
	}
	j.mu.Lock()
	recovered := j.err != nil
	j.err = nil
	j.mu.Unlock()
	if recovered {
		j.log.Info("replay journal written again: accepting presentations", "bucket", j.bucket)
	}
}

// Close writes what is pending and stops the writer.
func (j *journaledReplay) Close() error {
	close(j.stop)
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}
