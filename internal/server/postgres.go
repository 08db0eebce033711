package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/gather"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/statuslist/publish"
	"github.com/agentid/agentid/store/pgstore"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
)

// ReplicaFile holds, in a replica's data directory, the name that tells
// its audit journal apart from the other replicas' in a shared database.
const ReplicaFile = "replica.id"

// openPostgres opens the application on the PostgreSQL database of
// cfg.StoreURL, which other replicas may share. What each replica keeps
// to itself, and what they share, is described in docs/deploy.md.
func openPostgres(ctx context.Context, cfg Config) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, DBFile)); err == nil {
		return nil, fmt.Errorf("server: %s holds a bbolt database; with --store postgres://… it would be ignored: move it with 'agentid store copy' first, or start without --store",
			filepath.Join(cfg.DataDir, DBFile))
	}
	replica, err := replicaName(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	pg, err := pgstore.Open(ctx, cfg.StoreURL, nil)
	if err != nil {
		return nil, fmt.Errorf("server: open database: %w", err)
	}
	if cfg.AuditRollInterval == 0 {
		// Segments are files of one replica's data directory, and sealing
		// removes records from the shared chain: not done by default.
		cfg.AuditRollInterval = -1
	}
	a, err := openStore(ctx, cfg, pg, pg, replica)
	if err != nil {
		return nil, err
	}
	a.health.ping = pg.Ping
	// Changes committed by other replicas: status bits (re-sign and
	// announce the list here too) and keys (refresh the issuer's own).
	pg.Subscribe(publish.TopicStatus, func(payload string, missed bool) {
		a.log.Debug("status announcement", "payload", payload, "missed", missed)
		if missed {
			a.Publisher.Stale()
			return
		}
		if err := a.Status.Changed(payload); err != nil {
			a.log.Warn("status announcement ignored", "err", err)
		}
	})
	pg.Subscribe(keystore.TopicKeys, func(_ string, _ bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Issuer.KeysChanged(ctx); err != nil {
			a.log.Warn("issuer keys not refreshed after another replica's change", "err", err)
		}
	})
	a.subscribeShared(pg)
	a.log.Info("store: PostgreSQL", "replica", replica)
	return a, nil
}

// replicaName reads, or makes, the data directory's replica name.
func replicaName(dir string) (string, error) {
	path := filepath.Join(dir, ReplicaFile)
	b, err := os.ReadFile(path)
	if err == nil {
		name := strings.TrimSpace(string(b))
		if name == "" || len(name) > 64 || strings.ContainsAny(name, "\x00/ ") {
			return "", fmt.Errorf("server: %s: not a replica name", path)
		}
		return name, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("server: %w", err)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	name := hex.EncodeToString(r[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("server: %w", err)
	}
	_, err = f.WriteString(name + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("server: %s: %w", path, err)
	}
	return name, nil
}

// replayStore is a replay cache the App closes.
type replayStore interface {
	verifier.ReplayCache
	Close() error
}

// openReplay opens the replay cache of bucket: on PostgreSQL one shared by
// every replica, else one journaled in the store.
func (a *App) openReplay(ctx context.Context, bucket string) (replayStore, error) {
	if a.pg != nil {
		return newSharedReplay(a.pg, bucket), nil
	}
	j, err := openReplay(ctx, a.DB, bucket, a.cfg.Now, a.log)
	if err != nil {
		return nil, err
	}
	return j, nil
}

// sharedReplay is a verifier.ReplayCache that every replica on the
// database shares: Record inserts the jti into the unlogged table
// agentid_replay, and only the replica whose insert created the row
// accepts the presentation. Concurrent Records share one statement (the
// ones that arrive while one is in flight make the next). A local memory
// cache answers Seen for presentations this replica accepted, and keeps
// Record from a round trip for them; it never accepts on its own.
type sharedReplay struct {
	pg    *pgstore.Store
	scope string
	mem   *verifier.MemoryReplayCache
	// table and single are for the benchmarks' comparisons: another
	// (logged) table, and one statement per Record instead of batches.
	table  string
	single bool

	batches gather.Gatherer[*replayReq]
	gcMu    sync.Mutex
	lastGC  time.Time

	// observe, when set (before the first Record), is handed the status
	// generation each batch's statement read, before the batch's callers
	// are answered: the confirmation of answers a cachedStatus gave from
	// what it held (cachedStatus.CheckHeld), in the same round trip as
	// the record.
	observe func(gen int64)
}

type replayReq struct {
	holder, jti string
	exp         int64
	now         time.Time // the caller's clock: rows expired before it are taken over
	err         error
	done        chan struct{}
}

func newSharedReplay(pg *pgstore.Store, scope string) *sharedReplay {
	return newSharedReplayIn(pg, scope, "agentid_replay", false)
}

// newSharedReplayIn is newSharedReplay on another table, or with one
// statement per Record (single), for the benchmarks' comparisons.
func newSharedReplayIn(pg *pgstore.Store, scope, table string, single bool) *sharedReplay {
	r := &sharedReplay{pg: pg, scope: scope, mem: verifier.NewMemoryReplayCache(0), table: table, single: single}
	r.batches.Run = r.insertBatch
	return r
}

// Seen implements verifier.ReplayCache: what this replica accepted. What
// another accepted is found by Record.
func (r *sharedReplay) Seen(holder, jti string, now time.Time) bool {
	return r.mem.Seen(holder, jti, now)
}

// Record implements verifier.ReplayCache.
func (r *sharedReplay) Record(holder, jti string, exp, now time.Time) error {
	if r.mem.Seen(holder, jti, now) {
		return verifier.ErrReplayed
	}
	q := &replayReq{holder: holder, jti: jti, exp: exp.UnixNano(), now: now, done: make(chan struct{})}
	if r.single {
		r.insert([]*replayReq{q}, now)
		if q.err == nil {
			_ = r.mem.Record(holder, jti, exp, now)
		}
		return q.err
	}
	r.batches.Add(q)
	<-q.done
	if q.err != nil {
		return q.err
	}
	// Locally too, for Seen; a full local cache changes nothing (the table
	// is the record).
	_ = r.mem.Record(holder, jti, exp, now)
	return nil
}

const replayInsert = `INSERT INTO %[1]s AS r (scope, holder, jti, exp)
SELECT $1, h, j, e FROM unnest($2::text[], $3::text[], $4::bigint[]) AS t(h, j, e)
ON CONFLICT (scope, holder, jti) DO UPDATE SET exp = excluded.exp WHERE r.exp < $5
RETURNING holder, jti`

// replayInsertGen is replayInsert that also reads the generation of topic
// $6, in the statement's snapshot (taken when it starts): one row per
// accepted key, or one row of NULLs when none was, each with the
// generation (for sharedReplay.observe; a subquery of one row, so every
// batch runs this one statement).
const replayInsertGen = `WITH ins AS (` + replayInsert + `)
SELECT coalesce((SELECT gen FROM agentid_generation WHERE topic = $6), 0), ins.holder, ins.jti
FROM (SELECT 1) AS one LEFT JOIN ins ON true`

// insertBatch inserts a gathered batch; once a minute it then deletes
// the expired rows of its scope, in its own goroutine, so that no batch
// waits for the delete.
func (r *sharedReplay) insertBatch(batch []*replayReq) {
	now := batch[0].now
	r.insert(batch, now)
	r.gcMu.Lock()
	gc := time.Since(r.lastGC) > time.Minute
	if gc {
		r.lastGC = time.Now()
	}
	r.gcMu.Unlock()
	if gc {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = r.pg.Pool().Exec(ctx, "DELETE FROM "+r.table+" WHERE scope = $1 AND exp < $2", r.scope, now.UnixNano())
		}()
	}
}

// insert records a batch: each key is accepted by exactly one request of
// all replicas; a second request for the same key in the batch is a replay.
func (r *sharedReplay) insert(batch []*replayReq, now time.Time) {
	defer func() {
		for _, q := range batch {
			close(q.done)
		}
	}()
	key := func(h, j string) string { return h + "\x00" + j }
	first := map[string]*replayReq{}
	var hs, js []string
	var es []int64
	for _, q := range batch {
		k := key(q.holder, q.jti)
		if _, dup := first[k]; dup {
			q.err = verifier.ErrReplayed
			continue
		}
		first[k] = q
		hs, js, es = append(hs, q.holder), append(js, q.jti), append(es, q.exp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := r.pg.Pool().Query(ctx, fmt.Sprintf(replayInsertGen, r.table), r.scope, hs, js, es, now.UnixNano(), publish.TopicStatus)
	accepted := map[string]bool{}
	gen := int64(-1)
	if err == nil {
		for rows.Next() {
			var h, j *string
			if err = rows.Scan(&gen, &h, &j); err != nil {
				break
			}
			if h != nil && j != nil {
				accepted[key(*h, *j)] = true
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err == nil && gen >= 0 && r.observe != nil {
		r.observe(gen)
	}
	for k, q := range first {
		switch {
		case err != nil:
			// Fail closed: not recorded, not accepted.
			q.err = fmt.Errorf("%w: the shared replay table cannot be written: %v", verifier.ErrReplayFull, err)
		case !accepted[k]:
			q.err = verifier.ErrReplayed
		}
	}
}

// Close implements replayStore; the table outlives the process.
func (r *sharedReplay) Close() error { return nil }

// sharedNonces returns, on PostgreSQL, the issuer's nonce store shared by
// every replica (nil otherwise: the issuer's own in memory).
func (a *App) sharedNonces(recordsKey []byte) verifier.NonceStore {
	if a.pg == nil || recordsKey == nil {
		return nil
	}
	m := hmac.New(sha256.New, recordsKey)
	m.Write([]byte("agentid nonce key v1"))
	return &sharedNonces{replay: newSharedReplay(a.pg, "nonce"), key: m.Sum(nil), ttl: 5 * time.Minute}
}

// sharedNonces is a verifier.NonceStore whose nonces any replica accepts,
// once: a nonce is a MAC, under a key every replica derives from the
// master key, over its issue time and random bytes (as
// verifier.MemoryNonces makes them), and its consumption is a row of the
// shared replay table.
type sharedNonces struct {
	replay *sharedReplay
	key    []byte
	ttl    time.Duration
}

const (
	nTimeLen = 8
	nRandLen = 16
	nTagLen  = 16
	nLen     = nTimeLen + nRandLen + nTagLen
)

func (s *sharedNonces) tag(msg []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(msg)
	return m.Sum(nil)[:nTagLen]
}

// Issue implements verifier.NonceStore.
func (s *sharedNonces) Issue(now time.Time) string {
	var b [nLen]byte
	binary.BigEndian.PutUint64(b[:nTimeLen], uint64(now.UnixNano()))
	_, _ = rand.Read(b[nTimeLen : nTimeLen+nRandLen])
	copy(b[nTimeLen+nRandLen:], s.tag(b[:nTimeLen+nRandLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Consume implements verifier.NonceStore: a nonce of ours, unexpired, and
// consumed by no replica before (the shared table says so; when it
// cannot be written, the nonce is refused).
func (s *sharedNonces) Consume(nonce string, now time.Time) bool {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(nLen) {
		return false
	}
	var b [nLen]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(nonce)); err != nil || n != nLen {
		return false
	}
	if !hmac.Equal(b[nTimeLen+nRandLen:], s.tag(b[:nTimeLen+nRandLen])) {
		return false
	}
	issued := int64(binary.BigEndian.Uint64(b[:nTimeLen]))
	if t := now.UnixNano(); issued > t || t-issued > int64(s.ttl) {
		return false
	}
	id := base64.RawURLEncoding.EncodeToString(b[nTimeLen+nRandLen:])
	return s.replay.Record("", id, time.Unix(0, issued).Add(s.ttl), now) == nil
}

// ownStatus is the status checker of the issuer's own credentials: on
// PostgreSQL one that caches status bits for as long as no status change
// has committed anywhere (one small read per check instead of two
// transactions reading the lists); on bbolt one that answers from an
// in-memory copy of the lists, dropped when a change commits (memStatus).
func (a *App) ownStatus() verifier.StatusChecker {
	if a.pg == nil {
		return &memStatus{bits: a.Status.NewBitCache(0)}
	}
	return newCachedStatus(a.pg, a.Status)
}

// cachedStatus answers as the issuer's own checker does (issuer's
// localStatus), from a cache of entry bits that is valid while the
// database's status generation (pgstore.Store.Generation, bumped in
// every transaction that changes a status bit, on any replica) is the one
// it was filled at. A bit is cached under the generation read before it
// was read, so a change committed after that generation makes the cache
// stale before the change could be missed: a revocation acknowledged on
// any replica is seen by the next check here.
type cachedStatus struct {
	pg *pgstore.Store
	st *publish.Store

	mu  sync.Mutex
	gen int64
	m   map[string]bool

	// Concurrent checks share generation reads: a check waits for the
	// next read that starts after it asked (never one already in flight,
	// which could predate a change acknowledged before the check began):
	// what gathers while a read is in flight is the next batch.
	reads gather.Gatherer[chan genResult]

	// fed says that observed is kept current by the replay records
	// (sharedReplay.observe): only then does CheckHeld answer.
	fed      bool
	observed atomic.Int64
	// genReads counts generation reads of its own (for the tests).
	genReads atomic.Int64
}

// observe records a generation read by a statement (the shared replay
// record's): the highest seen, which is never older than the one read by
// the statement that started last.
func (c *cachedStatus) observe(g int64) {
	for {
		o := c.observed.Load()
		if g <= o || c.observed.CompareAndSwap(o, g) {
			return
		}
	}
}

// CheckHeld implements verifier.ProvisionalStatus: clear bits held for
// generation g answer at once, and are confirmed when the presentation's
// jti is recorded, by the generation the record's statement read. That
// statement started after this check, so a change acknowledged on any
// replica before the check began has moved the generation past g by
// then; confirm then checks again, reading through (Check). A set bit,
// or one not held, is left to Check.
func (c *cachedStatus) CheckHeld(ctx context.Context, iss string, entries []vc.StatusEntry) (func(context.Context) error, bool) {
	if !c.fed || len(entries) == 0 {
		return nil, false
	}
	c.mu.Lock()
	g, m := c.gen, c.m
	if m == nil {
		c.mu.Unlock()
		return nil, false
	}
	for _, e := range entries {
		if set, ok := m[cacheKey(e)]; !ok || set {
			c.mu.Unlock()
			return nil, false
		}
	}
	c.mu.Unlock()
	return func(ctx context.Context) error {
		if c.observed.Load() == g {
			return nil
		}
		return c.Check(ctx, iss, entries)
	}, true
}

func newCachedStatus(pg *pgstore.Store, st *publish.Store) *cachedStatus {
	c := &cachedStatus{pg: pg, st: st}
	c.reads.Run = c.readGeneration
	return c
}

type genResult struct {
	gen int64
	err error
}

// generation returns the status generation as read by a query that
// started after the call.
func (c *cachedStatus) generation(ctx context.Context) (int64, error) {
	ch := make(chan genResult, 1)
	c.reads.Add(ch)
	select {
	case r := <-ch:
		return r.gen, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// readGeneration answers the waiting checks of a batch with one query.
func (c *cachedStatus) readGeneration(waiting []chan genResult) {
	c.genReads.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	g, err := c.pg.Generation(ctx, publish.TopicStatus)
	cancel()
	for _, ch := range waiting {
		ch <- genResult{g, err}
	}
}

// cacheKey names an entry's bit in cachedStatus's cache.
func cacheKey(e vc.StatusEntry) string {
	return e.StatusPurpose + "\x00" + e.StatusListCredential + "\x00" + e.StatusListIndex
}

// maxCachedEntries bounds the cache; past it, it starts again.
const maxCachedEntries = 1 << 20

func (c *cachedStatus) Check(ctx context.Context, iss string, entries []vc.StatusEntry) error {
	if len(entries) == 0 {
		return reason.New(reason.StatusUnavailable, "credential has no status entries")
	}
	g, err := c.generation(ctx)
	if err != nil {
		return reason.Wrap(reason.StatusUnavailable, "status list", err)
	}
	for _, e := range entries {
		key := cacheKey(e)
		c.mu.Lock()
		if c.gen != g || c.m == nil || len(c.m) > maxCachedEntries {
			if g < c.gen {
				// A check that read an older generation than another:
				// read through, and leave the cache to the newer one.
				c.mu.Unlock()
				set, err := c.st.Status(ctx, e)
				if err != nil {
					return reason.Wrap(reason.StatusUnavailable, "status list", err)
				}
				if err := statusErr(e, set); err != nil {
					return err
				}
				continue
			}
			c.gen, c.m = g, map[string]bool{}
		}
		set, ok := c.m[key]
		c.mu.Unlock()
		if !ok {
			if set, err = c.st.Status(ctx, e); err != nil {
				return reason.Wrap(reason.StatusUnavailable, "status list", err)
			}
			c.mu.Lock()
			if c.gen == g {
				c.m[key] = set
			}
			c.mu.Unlock()
		}
		if err := statusErr(e, set); err != nil {
			return err
		}
	}
	return nil
}

// statusErr is the refusal for a set bit, as the issuer's checker gives it.
func statusErr(e vc.StatusEntry, set bool) error {
	if !set {
		return nil
	}
	switch statuslist.Purpose(e.StatusPurpose) {
	case statuslist.Revocation:
		return reason.New(reason.Revoked, "credential is revoked")
	case statuslist.Suspension:
		return reason.New(reason.Suspended, "credential is suspended")
	default:
		return reason.New(reason.StatusUnavailable, "unknown status purpose")
	}
}

// ChangeIssuerURLStore is ChangeIssuerURL for the PostgreSQL database at
// storeURL. Stop every replica first, and start them all again with the
// new --issuer-url: a replica started with the old one refuses to start.
func ChangeIssuerURLStore(ctx context.Context, storeURL, newURL string) (old string, err error) {
	newURL = strings.TrimSuffix(newURL, "/")
	if _, err := did.WebDID(newURL); err != nil {
		return "", fmt.Errorf("server: issuer URL %q: %w", newURL, err)
	}
	db, err := pgstore.Open(ctx, storeURL, nil)
	if err != nil {
		return "", fmt.Errorf("server: open database: %w", err)
	}
	defer db.Close()
	return changeIssuerURL(ctx, db, "the database", newURL)
}
