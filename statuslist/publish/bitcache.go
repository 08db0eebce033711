package publish

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/vc"
)

// BitCache answers Store.Status from an in-memory copy of each list's
// bits, read once from the store and dropped when the list changes.
//
// It is exact — never a stale "not set" once a change has been
// acknowledged — only while every change of the store's status bits goes
// through the Store it was made from, in this process: a change committed
// through SetTx drops the list's copy in the transaction's OnCommit, which
// runs before Update or Batch returns, and a Changed announcement drops it
// too. That is the case of a bbolt file (one process holds it, and the
// server opens one Store on it). A database other processes write
// (PostgreSQL shared by replicas) must not use it: their changes reach
// this process only through an announcement, later.
//
// A copy filled by a read that began before a change committed is never
// kept: every drop moves a generation counter, and a fill is installed
// only if the counter has not moved since before its read began.
type BitCache struct {
	s   *Store
	max int

	gen   atomic.Uint64
	lists atomic.Pointer[map[string]*cachedBits] // list URL -> bits; replaced, never changed

	mu sync.Mutex // serialises changes of lists and gen
}

// cachedBits is one list's bits as read in one transaction.
type cachedBits struct {
	purpose Purpose
	bits    *statuslist.Bitstring
}

// DefaultBitCacheLists is the number of lists a BitCache keeps when
// NewBitCache is given 0: 1,024 lists of the default size are 16 MiB.
const DefaultBitCacheLists = 1024

// NewBitCache returns a BitCache over s keeping at most maxLists lists
// (DefaultBitCacheLists if 0); past that, a list read is answered but not
// kept. See BitCache for when it may be used.
func (s *Store) NewBitCache(maxLists int) *BitCache {
	if maxLists <= 0 {
		maxLists = DefaultBitCacheLists
	}
	c := &BitCache{s: s, max: maxLists}
	m := map[string]*cachedBits{}
	c.lists.Store(&m)
	s.watch(func(listURL string, _ Purpose) { c.drop(listURL) })
	return c
}

// drop forgets list u (every list if u names none of this store's).
func (c *BitCache) drop(u string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	old := *c.lists.Load()
	m := make(map[string]*cachedBits, len(old))
	if _, _, err := c.s.parseListURL(u); err == nil {
		for k, v := range old {
			if k != u {
				m[k] = v
			}
		}
	}
	c.lists.Store(&m)
}

// Status reports whether the status bit of entry e is set, as Store.Status
// does, from the cached copy of its list when there is one.
func (c *BitCache) Status(ctx context.Context, e vc.StatusEntry) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if l, ok := (*c.lists.Load())[e.StatusListCredential]; ok {
		if string(l.purpose) != e.StatusPurpose {
			return false, fmt.Errorf("%w: statusPurpose %q disagrees with the list URL", ErrUnknownEntry, e.StatusPurpose)
		}
		if e.Type != "" && e.Type != statuslist.EntryType {
			return false, fmt.Errorf("%w: type %q", ErrUnknownEntry, e.Type)
		}
		idx, ok := statuslist.ParseIndex(e.StatusListIndex)
		if !ok {
			return false, fmt.Errorf("%w: statusListIndex %q", ErrUnknownEntry, e.StatusListIndex)
		}
		set, err := l.bits.Get(idx)
		if err != nil {
			return false, fmt.Errorf("%w: index %d is out of range", ErrUnknownEntry, idx)
		}
		return set, nil
	}
	return c.fill(ctx, e)
}

// fill reads e's list in one transaction, answers from it, and keeps it
// unless a list changed since before the read began.
func (c *BitCache) fill(ctx context.Context, e vc.StatusEntry) (bool, error) {
	g := c.gen.Load()
	var (
		set  bool
		l    *cachedBits
		keep bool
	)
	err := c.s.db.View(ctx, func(tx store.Tx) error {
		r, _, err := c.s.resolveTx(tx, e, false)
		if err != nil {
			return err
		}
		bits, err := c.s.bitsTx(tx, r.purpose, r.n)
		if err != nil {
			return err
		}
		set, _ = bits.Get(r.index)
		l = &cachedBits{purpose: r.purpose, bits: bits}
		// Only the canonical spelling of a list's URL is a key, so that a
		// drop by URL finds it.
		keep = e.StatusListCredential == c.s.ListURL(r.purpose, r.n)
		return nil
	})
	if err != nil || !keep {
		return set, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.lists.Load()
	if c.gen.Load() != g || len(old) >= c.max {
		return set, nil
	}
	m := make(map[string]*cachedBits, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[e.StatusListCredential] = l
	c.lists.Store(&m)
	return set, nil
}
