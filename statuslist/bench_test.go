package statuslist

import "testing"

// BenchmarkCachedListMemory reports the heap held per cached list.
func BenchmarkCachedListMemory(b *testing.B) {
	var per float64
	for b.Loop() {
		per = measureCachedList(b, 64)
	}
	b.ReportMetric(per, "bytes/list")
}

func BenchmarkDecode(b *testing.B) {
	l := New(MinSize)
	for i := 0; i < 1000; i++ {
		l.Set(i * 131)
	}
	enc, _ := l.Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc, 0); err != nil {
			b.Fatal(err)
		}
	}
}
