package statuslist

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

func readVector(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// encodeRaw builds an encodedList from raw bytes with any gzip level.
func encodeRaw(tb testing.TB, raw []byte) string {
	tb.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(raw)
	zw.Close()
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

func TestBitOrder(t *testing.T) {
	// Index 0 is the left-most (most significant) bit of byte 0.
	tests := []struct {
		index int
		byte  int
		value byte
	}{
		{0, 0, 0x80},
		{1, 0, 0x40},
		{7, 0, 0x01},
		{8, 1, 0x80},
		{201, 25, 0x40},
		{MinSize - 1, MinSize/8 - 1, 0x01},
	}
	for _, tt := range tests {
		l := New(MinSize)
		if err := l.Set(tt.index); err != nil {
			t.Fatal(err)
		}
		for i, b := range l.Bytes() {
			want := byte(0)
			if i == tt.byte {
				want = tt.value
			}
			if b != want {
				t.Fatalf("Set(%d): byte %d = %#02x, want %#02x", tt.index, i, b, want)
			}
		}
		if got, _ := l.Get(tt.index); !got {
			t.Fatalf("Get(%d) = false after Set", tt.index)
		}
		if err := l.Clear(tt.index); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(l.Bytes(), make([]byte, MinSize/8)) {
			t.Fatalf("Clear(%d) left bits set", tt.index)
		}
	}
}

func TestSpecExample(t *testing.T) {
	l, err := Decode(readVector(t, "encodedlist_spec_example_all_zero.txt"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != MinSize {
		t.Fatalf("Len = %d, want %d", l.Len(), MinSize)
	}
	if !bytes.Equal(l.Bytes(), make([]byte, MinSize/8)) {
		t.Fatal("the specification's example list has bits set")
	}
	// Our own encoding of the same list decodes to the same bits.
	enc, err := l.Encode()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Decode(enc, 0)
	if err != nil || !bytes.Equal(l2.Bytes(), l.Bytes()) {
		t.Fatalf("re-encoded example does not round-trip: %v", err)
	}
}

func TestW3CTestSuiteVector(t *testing.T) {
	l, err := Decode(readVector(t, "encodedlist_w3c_testsuite_set_201_57444_94023.txt"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 200000 {
		t.Fatalf("Len = %d, want 200000", l.Len())
	}
	var set []int
	for i := 0; i < l.Len(); i++ {
		if b, _ := l.Get(i); b {
			set = append(set, i)
		}
	}
	want := []int{201, 57444, 94023}
	if len(set) != len(want) {
		t.Fatalf("set bits %v, want %v", set, want)
	}
	for i := range want {
		if set[i] != want[i] {
			t.Fatalf("set bits %v, want %v (least-significant-first would give 206 for 201)", set, want)
		}
	}
}

func TestNewSize(t *testing.T) {
	tests := []struct{ size, want int }{
		{-1, MinSize}, {0, MinSize}, {10, MinSize}, {MinSize, MinSize},
		{MinSize + 1, MinSize + 8}, {2 * MinSize, 2 * MinSize},
	}
	for _, tt := range tests {
		if got := New(tt.size).Len(); got != tt.want {
			t.Errorf("New(%d).Len() = %d, want %d", tt.size, got, tt.want)
		}
	}
}

func TestIndexRange(t *testing.T) {
	l := New(MinSize)
	for _, i := range []int{-1, MinSize, MinSize + 7, 1 << 40} {
		if _, err := l.Get(i); !errors.Is(err, ErrIndexOutOfRange) {
			t.Errorf("Get(%d) = %v", i, err)
		}
		if err := l.Set(i); !errors.Is(err, ErrIndexOutOfRange) {
			t.Errorf("Set(%d) = %v", i, err)
		}
		if err := l.Clear(i); !errors.Is(err, ErrIndexOutOfRange) {
			t.Errorf("Clear(%d) = %v", i, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{MinSize, 3 * MinSize} {
		for _, density := range []float64{0, 0.001, 0.5, 1} {
			l := New(size)
			for i := 0; i < l.Len(); i++ {
				if r.Float64() < density {
					l.Set(i)
				}
			}
			enc, err := l.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if enc[0] != 'u' || strings.ContainsAny(enc, "+/=") {
				t.Fatalf("encoding is not multibase base64url without padding: %.20s", enc)
			}
			got, err := Decode(enc, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), l.Bytes()) {
				t.Fatalf("size %d density %v: round trip differs", size, density)
			}
			if cap(got.Bytes()) != len(got.Bytes()) {
				t.Fatalf("decoded list keeps %d bytes for %d", cap(got.Bytes()), len(got.Bytes()))
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	zeros := make([]byte, MinSize/8)
	good := encodeRaw(t, zeros)
	gz := func(b []byte) []byte {
		s, _ := base64.RawURLEncoding.DecodeString(encodeRaw(t, b)[1:])
		return s
	}
	b64 := base64.RawURLEncoding.EncodeToString
	corruptCRC := gz(zeros)
	corruptCRC[len(corruptCRC)-6] ^= 0xff
	tests := []struct {
		name string
		in   string
		max  int
		want error
	}{
		{"empty", "", 0, ErrMalformedList},
		{"no prefix", good[1:], 0, ErrMalformedList},
		{"base58btc prefix", "z" + good[1:], 0, ErrMalformedList},
		{"base64 prefix", "m" + base64.RawStdEncoding.EncodeToString(gz(zeros)), 0, ErrMalformedList},
		{"padding", "u" + base64.URLEncoding.EncodeToString(gz(zeros)), 0, ErrMalformedList},
		{"standard alphabet", "u" + strings.NewReplacer("-", "+", "_", "/").Replace(good[1:]) + "+/", 0, ErrMalformedList},
		{"not gzip", "u" + b64(zeros), 0, ErrMalformedList},
		{"truncated gzip", "u" + b64(gz(zeros)[:20]), 0, ErrMalformedList},
		{"bad crc", "u" + b64(corruptCRC), 0, ErrMalformedList},
		{"trailing garbage", "u" + b64(append(gz(zeros), "junk-junk-junk"...)), 0, ErrMalformedList},
		{"short list", encodeRaw(t, make([]byte, MinSize/8-1)), 0, ErrListTooShort},
		{"empty list", encodeRaw(t, nil), 0, ErrListTooShort},
		{"over caller cap", good, MinSize/8 - 1, ErrListTooLarge},
		{"gzip bomb", encodeRaw(t, make([]byte, 20<<20)), 0, ErrListTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Decode(tt.in, tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want %v", l, err, tt.want)
			}
		})
	}
	if _, err := Decode(good, MinSize/8); err != nil {
		t.Fatalf("list at exactly the cap: %v", err)
	}
}

func TestDecodeBombMemory(t *testing.T) {
	// 32 MiB of zeros compress to a few dozen KiB; decoding with a 1 MiB
	// cap must not allocate anything like 32 MiB.
	bomb := encodeRaw(t, make([]byte, 32<<20))
	t.Logf("bomb: %d bytes encoded", len(bomb))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode(bomb, 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrListTooLarge) {
		t.Fatalf("Decode = %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("decoding a bomb with a 1 MiB cap allocated %d bytes", alloc)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(readVector(f, "encodedlist_spec_example_all_zero.txt"))
	f.Add(readVector(f, "encodedlist_w3c_testsuite_set_201_57444_94023.txt"))
	l := New(MinSize)
	l.Set(0)
	l.Set(MinSize - 1)
	enc, _ := l.Encode()
	f.Add(enc)
	f.Add("u")
	f.Add("uH4sI")
	f.Add("")
	const max = 1 << 20
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Decode(s, max)
		if err != nil {
			if l != nil {
				t.Fatal("list returned with an error")
			}
			if !errors.Is(err, ErrMalformedList) && !errors.Is(err, ErrListTooLarge) && !errors.Is(err, ErrListTooShort) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if l.Len() < MinSize || len(l.Bytes()) > max {
			t.Fatalf("accepted a list of %d entries", l.Len())
		}
		enc, err := l.Encode()
		if err != nil {
			t.Fatal(err)
		}
		l2, err := Decode(enc, max)
		if err != nil || !bytes.Equal(l2.Bytes(), l.Bytes()) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}
