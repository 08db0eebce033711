// Package pgstore is the PostgreSQL implementation of the store seam,
// through pgx: several agentid processes (replicas) on one database share
// every bucket, and what one commits the others read.
//
//	st, err := pgstore.Open(ctx, "postgres://agentid@db/agentid", nil)
//	if err != nil { … }
//	defer st.Close()
//
// Open applies the embedded schema migrations first (see [Migrations]),
// under an advisory lock, so that replicas starting together are safe.
//
// # Transactions
//
// Every bucket is rows of one table, agentid_kv (bucket, key, value). A
// read-write transaction (Update, Batch) is a PostgreSQL transaction that
// first takes a transaction-level advisory lock, the same for every
// replica: read-write transactions are serialised across all replicas, as
// bbolt serialises them in one process, which is what the callers of the
// seam assume (a status-list index read and then allocated, an audit chain
// head read and then extended). They run at READ COMMITTED: once the lock
// is held no other writer can commit, so every statement sees the state
// the previous writer left plus the transaction's own writes. Writes are
// kept in the transaction (Get and Range see them) and sent, with the
// COMMIT, in one round trip. What a read-write transaction's Get read from
// the database it keeps for its life (no other writer can change it while
// the lock is held): a Batch reads a row once, not once per function. A read-only transaction (View) is REPEATABLE
// READ READ ONLY and takes no lock.
//
// Batch gathers concurrent callers into one PostgreSQL transaction (one
// commit, one WAL flush): the callers that arrive while a commit is in
// flight make the next. Each function's writes are kept apart until it
// returns, so a function that fails is dropped without making the others
// run again.
//
// # Errors
//
// A transaction that fails because the database cannot be reached, is
// shutting down or restarting, is out of resources, or because the
// connection broke, fails with an error wrapping [store.ErrUnavailable].
// Bucket.Get has no error result: a Get that fails returns nil and makes
// the whole transaction fail with that error, whatever fn returns, so
// that no decision taken on a missing read is committed. A connection
// that breaks while COMMIT is in flight leaves the outcome unknown to the
// client (PostgreSQL committed it or not); the error is then
// ErrUnavailable although the transaction may have committed.
//
// # Caveats
//
// Bucket names are stored as text; keys are compared as bytes (bytea).
// The Sequential hint is not implemented: it changes nothing here.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentid/agentid/internal/gather"
	"github.com/agentid/agentid/store"
)

// Advisory lock keys ("agentid" and a number), shared with every replica.
const (
	lockWrite   int64 = 0x6167656e74696401
	lockMigrate int64 = 0x6167656e74696402
)

// errURLParse is the error of a database URL that does not parse: it
// never quotes the URL, which may carry a password.
var errURLParse = errors.New("pgstore: the database URL does not parse")

// beginWrite opens a read-write transaction and waits for the writers'
// lock; beginRead opens a read-only one on one snapshot.
var (
	beginWrite = []string{"BEGIN ISOLATION LEVEL READ COMMITTED", fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockWrite)}
	beginRead  = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
)

// Options configure Open. The zero value (or nil) is usable.
type Options struct {
	// MaxConns bounds the connection pool (16 by default).
	MaxConns int32
	// MaxBatch bounds how many Batch callers share one commit (256 by
	// default).
	MaxBatch int
	// TxTimeout bounds a Batch transaction, which runs on no caller's
	// context (30 s by default).
	TxTimeout time.Duration
}

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	o    Options

	// closeMu guards closed and active (operations between enter and
	// leave); drained is signalled when the last leaves after Close. Not
	// a sync.RWMutex: an operation may enter again inside another (a
	// status list's signer reads its keys from within the transaction
	// that stores the list), and a recursive RLock blocks behind a
	// waiting Close's Lock, which waits for the outer one: a deadlock.
	closeMu sync.Mutex
	closed  bool
	active  int
	drained *sync.Cond

	// wmu lets one of this process's read-write transactions at a time
	// wait for the advisory lock, rather than a connection per writer.
	wmu sync.Mutex

	// batches is Batch's group commit (batch.go).
	batches gather.Gatherer[*call]

	// id tells this store's announcements from other stores'.
	id         string
	subMu      sync.Mutex
	subs       map[string][]Subscriber
	listenStop context.CancelFunc
	listenDone chan struct{}
	listenKick context.CancelFunc
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string, as pgx parses it), applies the migrations it lacks and returns
// the store.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxConns == 0 {
		o.MaxConns = 16
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 256
	}
	if o.TxTimeout == 0 {
		o.TxTimeout = 30 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included.
		return nil, errURLParse
	}
	cfg.MaxConns = o.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, mapErr(fmt.Errorf("pgstore: migrate: %w", err))
	}
	s := &Store{pool: pool, o: o, id: newID()}
	s.batches = gather.Gatherer[*call]{Run: s.runBatch, Max: o.MaxBatch}
	return s, nil
}

// Pool returns the store's connection pool, for other users of the same
// database (a replay table, notifications).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return mapErr(err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	// Operations under way finish (an operation entering now, even inside
	// one under way, fails with store.ErrClosed) before the pool closes.
	for s.active > 0 {
		s.drainedCond().Wait()
	}
	s.closeMu.Unlock()
	s.subMu.Lock()
	stop, done := s.listenStop, s.listenDone
	s.subMu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	s.pool.Close()
	return nil
}

// enter fails once the store is closed; leave must follow a nil return.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.active++
	return nil
}

func (s *Store) leave() {
	s.closeMu.Lock()
	s.active--
	if s.active == 0 && s.closed {
		s.drainedCond().Broadcast()
	}
	s.closeMu.Unlock()
}

// drainedCond returns the condition Close waits on; the caller holds
// closeMu.
func (s *Store) drainedCond() *sync.Cond {
	if s.drained == nil {
		s.drained = sync.NewCond(&s.closeMu)
	}
	return s.drained
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapErr(fmt.Errorf("pgstore: connect: %w", err))
	}
	defer conn.Release()
	// BEGIN goes with the first statement fn makes (one round trip); a
	// View that reads nothing costs none.
	t := newTxn(ctx, conn.Conn(), false)
	t.prelude = []string{beginRead}
	ferr := fn(t)
	var rerr error
	if t.prelude == nil {
		_, rerr = conn.Exec(ctx, "ROLLBACK")
	}
	switch {
	case t.err != nil:
		return t.err
	case ferr != nil:
		return ferr
	case rerr != nil:
		// Nothing was written; the reads fn made were complete.
		conn.Conn().Close(ctx)
	}
	return nil
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.write(ctx, func(t *txn) error {
		return fn(t)
	}, func(t *txn) {
		for _, f := range t.onCommit {
			f()
		}
	})
}

// write runs body in a read-write transaction and commits it; after a
// commit it calls committed. An error of body's comes back unchanged,
// unless a read of the database failed, whose error wins.
func (s *Store) write(ctx context.Context, body func(*txn) error, committed func(*txn)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapErr(fmt.Errorf("pgstore: connect: %w", err))
	}
	defer conn.Release()
	c := conn.Conn()
	// BEGIN and the writers' lock go with the first statement (or the
	// commit): one round trip fewer per transaction.
	t := newTxn(ctx, c, true)
	t.prelude = beginWrite
	t.origin = s.id
	ferr := body(t)
	if t.err != nil || ferr != nil {
		rollback(ctx, c)
		if t.err != nil {
			return t.err
		}
		return ferr
	}
	if err := t.commit(); err != nil {
		rollback(ctx, c)
		return err
	}
	committed(t)
	return nil
}

func rollback(ctx context.Context, c *pgx.Conn) {
	if c.IsClosed() {
		return
	}
	if _, err := c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		// A connection whose state is unknown is not given back.
		c.Close(context.WithoutCancel(ctx))
	}
}

// mapErr maps an error of the database or the connection to the seam's
// sentinels: what means "the database is not there or not working now"
// wraps store.ErrUnavailable; a cancelled context stays itself; the rest
// (a bug, a schema the binary does not know) is returned as it is.
func mapErr(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (disk full, out of memory, too many connections)
			"58", // system error (I/O)
			"57": // operator intervention: shutdown, crash recovery, cannot connect now, statement timeout
			return true
		case "25":
			return pe.Code == "25006" // read-only transaction: a standby, or default_transaction_read_only
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ENOENT) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isClosedConn(err)
}

func isClosedConn(err error) bool {
	return err != nil && (errors.Is(err, net.ErrClosed) || err.Error() == "conn closed" || err.Error() == "conn busy")
}

// lockInit serialises the initialisation of a database by replicas that
// start together.
const lockInit int64 = 0x6167656e74696403

// Exclusively runs fn while holding a session-level advisory lock that
// every store on the database shares: one process at a time runs its fn
// (initialising an empty database, say), the others wait for it. fn may
// use the store.
func (s *Store) Exclusively(ctx context.Context, fn func() error) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	s.leave()
	if err != nil {
		return mapErr(fmt.Errorf("pgstore: connect: %w", err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockInit); err != nil {
		conn.Conn().Close(context.Background())
		return mapErr(fmt.Errorf("pgstore: lock: %w", err))
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockInit); err != nil {
			// Closing the session releases the lock.
			conn.Conn().Close(context.Background())
		}
	}()
	return fn()
}

// Buckets returns the names of the buckets that hold a key, in byte
// order.
func (s *Store) Buckets(ctx context.Context) ([]string, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT bucket FROM agentid_kv ORDER BY bucket`)
	if err != nil {
		return nil, mapErr(fmt.Errorf("pgstore: %w", err))
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mapErr(fmt.Errorf("pgstore: %w", err))
	}
	return names, nil
}
