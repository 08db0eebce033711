package gather

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBatches: a lone item is handled at once; items added while a batch
// runs are the next batch, at most Max at a time; every item is handled
// exactly once.
func TestBatches(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	seen := map[int]int{}
	var g Gatherer[int]
	g.Max = 10
	first := true
	g.Run = func(batch []int) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		for _, x := range batch {
			seen[x]++
		}
		wait := first
		first = false
		mu.Unlock()
		if wait {
			<-release
		}
	}
	g.Add(0)
	time.Sleep(20 * time.Millisecond) // the first batch runs, holding the loop
	for i := 1; i <= 25; i++ {
		g.Add(i)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 26 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i <= 25; i++ {
		if seen[i] != 1 {
			t.Fatalf("item %d handled %d times", i, seen[i])
		}
	}
	if want := []int{1, 10, 10, 5}; len(sizes) != len(want) || sizes[0] != 1 || sizes[1] != 10 || sizes[2] != 10 || sizes[3] != 5 {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
}

// TestConcurrentAdds: from many goroutines, every item is handled once
// and the loop stops when nothing waits (a later Add starts it again).
func TestConcurrentAdds(t *testing.T) {
	var handled atomic.Int64
	g := &Gatherer[chan struct{}]{Run: func(batch []chan struct{}) {
		for _, c := range batch {
			handled.Add(1)
			close(c)
		}
	}}
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 100 {
				c := make(chan struct{})
				g.Add(c)
				<-c
			}
		})
	}
	wg.Wait()
	if handled.Load() != 6400 {
		t.Fatalf("handled %d, want 6400", handled.Load())
	}
	time.Sleep(10 * time.Millisecond)
	g.mu.Lock()
	running := g.running
	g.mu.Unlock()
	if running {
		t.Fatal("the loop still runs with nothing queued")
	}
	c := make(chan struct{})
	g.Add(c)
	<-c
}
