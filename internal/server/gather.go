package server

import "sync"

// gather runs its function over batches: what is added while a batch is
// being handled becomes the next batch, so that concurrent callers share
// one round trip (a statement, a read) instead of queueing one each. One
// goroutine handles batches while any are waiting, none otherwise. The
// function must answer every item of its batch; the zero value is not
// usable (set run).
type gather[T any] struct {
	run func(batch []T)

	mu      sync.Mutex
	queue   []T
	running bool
}

// add queues x for the next batch.
func (g *gather[T]) add(x T) {
	g.mu.Lock()
	g.queue = append(g.queue, x)
	if !g.running {
		g.running = true
		go g.drain()
	}
	g.mu.Unlock()
}

func (g *gather[T]) drain() {
	for {
		g.mu.Lock()
		batch := g.queue
		g.queue = nil
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.run(batch)
	}
}
