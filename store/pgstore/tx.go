package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/agentid/agentid/store"
)

// txn is one transaction: a connection inside BEGIN, and for a read-write
// transaction the writes not yet sent, in layers (a Batch function's own
// writes on top of those of the functions before it).
type txn struct {
	ctx      context.Context
	conn     *pgx.Conn
	writable bool
	layers   []overlay
	notes    [][]note // announcements, by layer
	origin   string   // the store's id, sent with announcements
	onCommit []func()
	err      error // the first failure of the database; fails the transaction
	// read holds, in a read-write transaction, what Get read from the
	// database (nil: no row), by bucket, then key. Every writer holds the
	// writers' lock, so no other transaction can change a row this one
	// read until it ends: a Batch of issuances reads the status lists'
	// current numbers, a parent's records or a principal once, not once
	// per function.
	read map[string]map[string][]byte
	// prelude is what opens the transaction, not yet sent: it goes in
	// one round trip with the first statement.
	prelude []string
}

// batchRows are the rows of a statement sent with the prelude; closing
// them closes the batch.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	closeErr error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if err := r.br.Close(); err != nil && r.closeErr == nil {
		r.closeErr = err
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

// query runs sql, after the prelude if it is still to be sent.
func (t *txn) query(sql string, args ...any) (pgx.Rows, error) {
	if t.prelude == nil {
		return t.conn.Query(t.ctx, sql, args...)
	}
	b := &pgx.Batch{}
	for _, p := range t.prelude {
		b.Queue(p)
	}
	b.Queue(sql, args...)
	n := len(t.prelude)
	t.prelude = nil
	br := t.conn.SendBatch(t.ctx, b)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// overlay holds writes by bucket, then key; a nil *[]byte is a delete.
type overlay map[string]map[string]*[]byte

func newTxn(ctx context.Context, conn *pgx.Conn, writable bool) *txn {
	t := &txn{ctx: ctx, conn: conn, writable: writable}
	if writable {
		t.layers = []overlay{{}}
		t.notes = [][]note{nil}
	}
	return t
}

func (t *txn) Writable() bool     { return t.writable }
func (t *txn) OnCommit(fn func()) { t.onCommit = append(t.onCommit, fn) }

func (t *txn) Bucket(name string) store.Bucket { return &bucket{t: t, name: name} }

// fail records the first database failure and returns it.
func (t *txn) fail(err error) error {
	if t.err == nil {
		t.err = mapErr(fmt.Errorf("pgstore: %w", err))
	}
	return t.err
}

// pending looks key up in the writes not yet sent, newest layer first.
func (t *txn) pending(bucket string, key []byte) (v *[]byte, found bool) {
	for i := len(t.layers) - 1; i >= 0; i-- {
		if v, ok := t.layers[i][bucket][string(key)]; ok {
			return v, true
		}
	}
	return nil, false
}

// push starts a layer for one Batch function; pop drops it (the function
// failed) or merges it into the layer below (it succeeded).
func (t *txn) push() {
	t.layers = append(t.layers, overlay{})
	t.notes = append(t.notes, nil)
}

func (t *txn) pop(keep bool) {
	top := t.layers[len(t.layers)-1]
	t.layers = t.layers[:len(t.layers)-1]
	notes := t.notes[len(t.notes)-1]
	t.notes = t.notes[:len(t.notes)-1]
	if !keep {
		return
	}
	t.notes[len(t.notes)-1] = append(t.notes[len(t.notes)-1], notes...)
	below := t.layers[len(t.layers)-1]
	for b, m := range top {
		if below[b] == nil {
			below[b] = map[string]*[]byte{}
		}
		for k, v := range m {
			below[b][k] = v
		}
	}
}

const (
	bumpSQL = `INSERT INTO agentid_generation (topic, gen) VALUES ($1, 1)
ON CONFLICT (topic) DO UPDATE SET gen = agentid_generation.gen + 1`
	upsertSQL = `INSERT INTO agentid_kv (bucket, key, value)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])
ON CONFLICT (bucket, kprefix, khash) DO UPDATE SET value = excluded.value`
	deleteSQL = `DELETE FROM agentid_kv AS kv USING unnest($1::text[], $2::bytea[]) AS d(bucket, key)
WHERE kv.bucket = d.bucket AND kv.kprefix = substring(d.key FROM 1 FOR 1024) AND kv.khash = sha256(d.key)`
	getSQL = `SELECT value FROM agentid_kv
WHERE bucket = $1 AND kprefix = substring($2::bytea FROM 1 FOR 1024) AND khash = sha256($2::bytea)`
	rangeSQL = `SELECT key, value FROM agentid_kv
WHERE bucket = $1 AND kprefix >= substring($2::bytea FROM 1 FOR 1024) AND key >= $2::bytea
ORDER BY kprefix, key LIMIT $3`
	rangeAfterSQL = `SELECT key, value FROM agentid_kv
WHERE bucket = $1 AND kprefix >= substring($2::bytea FROM 1 FOR 1024) AND key > $2::bytea
ORDER BY kprefix, key LIMIT $3`
)

// commit sends the writes and COMMIT in one round trip.
func (t *txn) commit() error {
	var putB []string
	var putK, putV [][]byte
	var delB []string
	var delK [][]byte
	for b, m := range t.layers[0] {
		for k, v := range m {
			if v == nil {
				delB, delK = append(delB, b), append(delK, []byte(k))
			} else {
				putB, putK, putV = append(putB, b), append(putK, []byte(k)), append(putV, *v)
			}
		}
	}
	batch := &pgx.Batch{}
	for _, p := range t.prelude {
		batch.Queue(p)
	}
	t.prelude = nil
	if len(delK) > 0 {
		batch.Queue(deleteSQL, delB, delK)
	}
	if len(putK) > 0 {
		batch.Queue(upsertSQL, putB, putK, putV)
	}
	bumped := map[string]bool{}
	for _, n := range t.notes[0] {
		batch.Queue("SELECT pg_notify($1, $2)", channel(n.topic), t.origin+" "+n.payload)
		if !bumped[n.topic] {
			bumped[n.topic] = true
			batch.Queue(bumpSQL, n.topic)
		}
	}
	batch.Queue("COMMIT")
	if err := t.conn.SendBatch(t.ctx, batch).Close(); err != nil {
		return mapErr(fmt.Errorf("pgstore: commit: %w", err))
	}
	return nil
}

type bucket struct {
	t    *txn
	name string
}

func checkKey(key []byte) error {
	if len(key) == 0 || len(key) > store.MaxKeySize {
		return fmt.Errorf("pgstore: a key is 1 to %d bytes, not %d", store.MaxKeySize, len(key))
	}
	return nil
}

func (b *bucket) Get(key []byte) []byte {
	t := b.t
	if t.err != nil || len(key) == 0 || len(key) > store.MaxKeySize {
		return nil
	}
	if t.writable {
		if v, ok := t.pending(b.name, key); ok {
			if v == nil {
				return nil
			}
			return *v
		}
		if v, ok := t.read[b.name][string(key)]; ok {
			return v
		}
	}
	var v []byte
	rows, err := t.query(getSQL, b.name, key)
	found := false
	if err == nil {
		found = rows.Next()
		if found {
			err = rows.Scan(&v)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		t.fail(err)
		return nil
	}
	if found && v == nil {
		v = []byte{}
	}
	if t.writable {
		m := t.read[b.name]
		if m == nil {
			if t.read == nil {
				t.read = map[string]map[string][]byte{}
			}
			m = map[string][]byte{}
			t.read[b.name] = m
		}
		m[string(key)] = v
	}
	return v
}

func (b *bucket) Put(key, value []byte) error {
	if !b.t.writable {
		return store.ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	b.set(key, &value)
	return nil
}

func (b *bucket) Delete(key []byte) error {
	if !b.t.writable {
		return store.ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	b.set(key, nil)
	return nil
}

func (b *bucket) set(key []byte, v *[]byte) {
	top := b.t.layers[len(b.t.layers)-1]
	m := top[b.name]
	if m == nil {
		m = map[string]*[]byte{}
		top[b.name] = m
	}
	m[string(key)] = v
}

// Range reads the bucket in pages (the connection cannot run another
// query while rows are open, and fn may Get from another bucket), and
// merges the writes not yet sent into them.
func (b *bucket) Range(from []byte, fn func(k, v []byte) error) error {
	t := b.t
	if t.err != nil {
		return t.err
	}
	// This transaction's own writes in the range, in key order.
	var mine []string
	merged := map[string]*[]byte{}
	if t.writable {
		for _, l := range t.layers {
			for k, v := range l[b.name] {
				if from == nil || k >= string(from) {
					merged[k] = v
				}
			}
		}
		for k := range merged {
			mine = append(mine, k)
		}
		slices.Sort(mine)
	}
	emit := func(k, v []byte) error {
		err := fn(k, v)
		if errors.Is(err, store.Stop) {
			return errStop
		}
		return err
	}
	// flushMine emits this transaction's puts whose keys sort before
	// limit (all of them when all is true).
	flushMine := func(limit []byte, all bool) error {
		for len(mine) > 0 && (all || strings.Compare(mine[0], string(limit)) < 0) {
			k := mine[0]
			mine = mine[1:]
			if v := merged[k]; v != nil {
				if err := emit([]byte(k), *v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := func() error {
		page := 32
		var after []byte
		for {
			var rows pgx.Rows
			var err error
			if after == nil {
				start := from
				if start == nil {
					start = []byte{}
				}
				rows, err = t.query(rangeSQL, b.name, start, page)
			} else {
				rows, err = t.query(rangeAfterSQL, b.name, after, page)
			}
			if err != nil {
				return t.fail(err)
			}
			var ks, vs [][]byte
			for rows.Next() {
				var k, v []byte
				if err := rows.Scan(&k, &v); err != nil {
					rows.Close()
					return t.fail(err)
				}
				if v == nil {
					v = []byte{}
				}
				ks, vs = append(ks, k), append(vs, v)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return t.fail(err)
			}
			for i, k := range ks {
				if err := flushMine(k, false); err != nil {
					return err
				}
				if _, ok := merged[string(k)]; ok {
					continue // overwritten or deleted by this transaction; emitted from mine
				}
				if err := emit(k, vs[i]); err != nil {
					return err
				}
			}
			if len(ks) < page {
				return flushMine(nil, true)
			}
			after = ks[len(ks)-1]
			if page < 1024 {
				page *= 2
			}
		}
	}()
	if err == errStop {
		return nil
	}
	return err
}

var errStop = errors.New("pgstore: stop")
