package loadtest

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestLoopback(t *testing.T) {
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"http://localhost:8080", true},
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"https://example.com", false},
		{"http://127.0.0.2:8080", false},
		{"http://localhost.example.com", false},
		{"://bad", false},
	} {
		t.Run(tc.target, func(t *testing.T) {
			if err := Loopback(tc.target); (err == nil) != tc.ok {
				t.Fatalf("Loopback(%q) = %v, want ok=%v", tc.target, err, tc.ok)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	lat := Sorted([][]time.Duration{{5, 1, 9}, nil, {3, 7, 2, 8, 4, 6, 10}})
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {.5, 6}, {.9, 10}, {.99, 10}, {1, 10}} {
		if got := Percentile(lat, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, .5); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}
	if got, want := Percentiles(lat), "p50 6ns, p90 10ns, p99 10ns, max 10ns"; got != want {
		t.Errorf("Percentiles = %q, want %q", got, want)
	}
}

func TestPrepare(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000} {
		seen := make([]atomic.Int32, n)
		Prepare(n, func(i int) { seen[i].Add(1) })
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: fill(%d) called %d times, want 1", n, i, c)
			}
		}
	}
}
