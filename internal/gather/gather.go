// Package gather runs a function over batches of what concurrent callers
// hand it: what arrives while a batch is being handled becomes the next
// batch, so that callers share one commit, statement or read instead of
// queueing for one each, and a lone caller is handled at once. It is the
// one loop behind the stores' group commits (store/boltstore,
// store/pgstore) and the verifier service's shared replay inserts and
// status reads (internal/server).
//
//	g := &gather.Gatherer[*call]{Run: commit, Max: 1000}
//	g.Add(c) // from many goroutines; commit sees them in batches
package gather

import (
	"sync"
	"time"
)

// Gatherer hands what Add is given to Run, in batches, from one goroutine
// that runs while anything is waiting. Run must answer every item of its
// batch (the callers wait on the items). Set Run before the first Add and
// change no field after it.
type Gatherer[T any] struct {
	// Run handles one batch.
	Run func(batch []T)
	// Max bounds a batch (0: no bound); the rest waits for the next.
	Max int
	// Delay, when set, is waited before each batch is taken, so that
	// more callers join it.
	Delay time.Duration

	mu      sync.Mutex
	queue   []T
	running bool
}

// Add queues x for the next batch.
func (g *Gatherer[T]) Add(x T) {
	g.mu.Lock()
	g.queue = append(g.queue, x)
	if !g.running {
		g.running = true
		go g.drain()
	}
	g.mu.Unlock()
}

// Waiting is how many items wait for the next batch.
func (g *Gatherer[T]) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

func (g *Gatherer[T]) drain() {
	for {
		if g.Delay > 0 {
			time.Sleep(g.Delay)
		}
		g.mu.Lock()
		n := len(g.queue)
		if g.Max > 0 {
			n = min(n, g.Max)
		}
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		g.Run(batch)
	}
}
