package publish

import (
	"bytes"
	"testing"

	"github.com/agentid/agentid/statuslist"
)

func TestPermutationIsBijection(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, size := range []int{1, 2, 3, 7, 8, 64, 100, 1000, 4096, 5000, 1 << 15} {
		p := newPermutation(key, size)
		seen := make([]bool, size)
		for x := 0; x < size; x++ {
			y := p.Permute(uint64(x))
			if y >= uint64(size) {
				t.Fatalf("size %d: Permute(%d) = %d, out of range", size, x, y)
			}
			if seen[y] {
				t.Fatalf("size %d: Permute(%d) = %d repeats", size, x, y)
			}
			seen[y] = true
			if back := p.Invert(y); back != uint64(x) {
				t.Fatalf("size %d: Invert(Permute(%d)) = %d", size, x, back)
			}
		}
	}
}

func TestPermutationDependsOnKey(t *testing.T) {
	a := newPermutation(bytes.Repeat([]byte{1}, 32), statuslist.MinSize)
	b := newPermutation(bytes.Repeat([]byte{2}, 32), statuslist.MinSize)
	same, fixed := 0, 0
	for x := uint64(0); x < 1000; x++ {
		if a.Permute(x) == b.Permute(x) {
			same++
		}
		if a.Permute(x) == x {
			fixed++
		}
	}
	if same > 5 || fixed > 5 {
		t.Fatalf("permutations look related: %d equal images, %d fixed points in 1000", same, fixed)
	}
}

func TestPermutationSpread(t *testing.T) {
	// The first allocations of a list spread over all of it: sequential
	// counters must not map to clustered indexes.
	p := newPermutation(bytes.Repeat([]byte{3}, 32), statuslist.MinSize)
	var buckets [16]int
	for x := uint64(0); x < 1600; x++ {
		buckets[p.Permute(x)*16/statuslist.MinSize]++
	}
	for i, n := range buckets {
		if n < 50 || n > 150 {
			t.Fatalf("bucket %d holds %d of 1600 (expected ~100): %v", i, n, buckets)
		}
	}
}
