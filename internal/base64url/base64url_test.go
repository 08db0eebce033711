package base64url

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// check fails t unless Decode and encoding/base64's strict raw URL decoder
// agree on s: count, error and bytes.
func check(t *testing.T, s string) {
	t.Helper()
	got := make([]byte, DecodedLen(len(s)))
	want := make([]byte, DecodedLen(len(s)))
	gn, gerr := Decode(got, s)
	wn, werr := base64.RawURLEncoding.Strict().Decode(want, []byte(s))
	if gn != wn || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
		t.Fatalf("Decode(%q) = %d, %v; encoding/base64: %d, %v", s, gn, gerr, wn, werr)
	}
	if gerr == nil && !bytes.Equal(got[:gn], want[:wn]) {
		t.Fatalf("Decode(%q) = %x, encoding/base64 %x", s, got[:gn], want[:wn])
	}
}

func TestDecode(t *testing.T) {
	var b []byte
	for i := 0; i < 200; i++ {
		b = append(b, byte(i*37+11))
	}
	enc := base64.RawURLEncoding.EncodeToString(b)
	for n := 0; n <= len(enc); n++ {
		check(t, enc[:n]) // every length: whole groups, 2- and 3-character tails, and a 1-character one (invalid)
	}
	for _, tc := range []struct{ name, s string }{
		{"padding", enc[:16] + "AA=="},
		{"standard alphabet", strings.Replace(enc[:40], enc[5:6], "+", 1)},
		{"slash", enc[:20] + "/" + enc[21:40]},
		{"newline in a fast group", enc[:7] + "\n" + enc[7:40]},
		{"CR LF in the tail", enc[:32] + "\r\n" + enc[32:36]},
		{"non-zero trailing bits", enc[:16] + "AB"},
		{"high byte", enc[:9] + "\xff" + enc[10:40]},
		{"NUL", enc[:31] + "\x00" + enc[32:48]},
		{"dot", enc[:16] + "." + enc[16:32]},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.s) })
	}
}

// TestDecodeInto checks that Decode writes nothing before dst's start and
// fits in a dst of exactly DecodedLen bytes.
func TestDecodeInto(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, 96))
	buf := bytes.Repeat([]byte{0x11}, 4+DecodedLen(len(enc)))
	n, err := Decode(buf[4:], enc)
	if err != nil || n != 96 || !bytes.Equal(buf[:4], []byte{0x11, 0x11, 0x11, 0x11}) || !bytes.Equal(buf[4:], bytes.Repeat([]byte{0xa5}, 96)) {
		t.Fatalf("n %d, err %v, buf %x", n, err, buf)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("eyJhbGciOiJFZERTQSIsInR5cCI6InZwK2p3dCJ9")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
	f.Add("AAAAAAAAAAAAAAAB")
	f.Add("A")
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}

// BenchmarkDecode compares Decode with encoding/base64 on a 3 KB segment
// (the credential a depth-3 presentation carries adds about that much).
func BenchmarkDecode(b *testing.B) {
	enc := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 144))
	dst := make([]byte, DecodedLen(len(enc)))
	b.Run("encoding-base64", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := base64.RawURLEncoding.Strict().Decode(dst, []byte(enc)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("base64url", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := Decode(dst, enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
