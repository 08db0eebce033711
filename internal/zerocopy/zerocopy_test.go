package zerocopy

import (
	"testing"
	"unsafe"
)

func TestRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", "eyJhbGciOiJFZERTQSJ9"} {
		if got := String(Bytes(s)); got != s {
			t.Fatalf("String(Bytes(%q)) = %q", s, got)
		}
		if b := Bytes(s); len(b) != len(s) || (len(s) > 0 && &b[0] != unsafe.StringData(s)) {
			t.Fatalf("Bytes(%q) is not a view of s", s)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = String(Bytes("abcdefghijklmnopqrstuvwxyz0123456789")) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
