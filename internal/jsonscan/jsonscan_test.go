package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestStrBoundsWord checks the word-at-a-time string scan against the
// byte table for every byte value at every offset and string length, with
// one and with two unusual bytes.
func TestStrBoundsWord(t *testing.T) {
	ref := func(b []byte) (int, bool) {
		i := 1
		for i < len(b) && strByte[b[i]] {
			i++
		}
		return i, i < len(b) && b[i] == '"'
	}
	check := func(b []byte) {
		var d Scanner
		d.Reset(b, nil)
		i, j := d.strBounds()
		wj, wok := ref(b)
		if d.bad == wok || (wok && (i != 1 || j != wj || d.i != wj+1)) {
			t.Fatalf("%q: got [%d,%d) bad=%v, want end %d ok=%v", b, i, j, d.bad, wj, wok)
		}
	}
	// Long strings take longStrEnd past their first 64 bytes: every
	// position of strings around and past that point, with the bytes that
	// matter.
	for _, n := range []int{63, 64, 65, 71, 72, 95, 96, 97, 100, 127, 128, 129, 160, 200} {
		base := []byte(`"` + strings.Repeat("a", n) + `"`)
		check(base)
		check(base[:len(base)-1])
		for p := 1; p <= n; p++ {
			for _, c := range []byte{0, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff, '~'} {
				b := bytes.Clone(base)
				b[p] = c
				check(b)
				check(b[:len(b)-1])
				if q := p + 37; q <= n {
					b[q] = '\\'
					check(b)
				}
			}
		}
	}
	for n := 0; n <= 24; n++ {
		base := []byte(`"` + strings.Repeat("a", n) + `"`)
		check(base)
		for p := 1; p <= n; p++ {
			for c := 0; c < 256; c++ {
				b := bytes.Clone(base)
				b[p] = byte(c)
				check(b)
				check(b[:len(b)-1]) // unterminated
				for q := p + 1; q <= n && q < p+9; q++ {
					for _, c2 := range []byte{0, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff} {
						b2 := bytes.Clone(b)
						b2[q] = c2
						check(b2)
					}
				}
			}
		}
	}
}

// FuzzStrings checks the scanner's contract on an array of strings:
// whenever Strings accepts b, encoding/json decodes b to the same slice.
func FuzzStrings(f *testing.F) {
	for _, s := range []string{`[]`, `["a","b"]`, ` [ "x" ] `, `["\u0041"]`, `["a",]`, `[1]`, `"a"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Scanner
		d.Reset(b, make([]string, 2))
		got := d.Strings()
		if !d.End() {
			return
		}
		var want []string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%q: scanner accepted %q, encoding/json: %v", b, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: scanner %q, encoding/json %q", b, got, want)
		}
	})
}

// TestScanner checks a few accepted and refused objects by the reason
// each is refused.
func TestScanner(t *testing.T) {
	type claims struct {
		iss string
		exp int64
	}
	scan := func(b string) (claims, bool) {
		var d Scanner
		d.Reset([]byte(b), nil)
		var c claims
		var seen uint32
		for more := d.Begin('{', '}'); more; more = d.More('}') {
			switch d.Key() {
			case "iss":
				d.Once(&seen, 0)
				c.iss = d.Str()
			case "exp":
				d.Once(&seen, 1)
				c.exp = d.Int64()
			default:
				d.Fail()
			}
		}
		return c, d.End()
	}
	for _, tc := range []struct {
		name, in string
		want     claims
		ok       bool
	}{
		{"simple", `{"iss":"a","exp":12}`, claims{"a", 12}, true},
		{"whitespace", " {\n\"iss\" : \"a\" }\t", claims{iss: "a"}, true},
		{"empty", `{}`, claims{}, true},
		{"negative", `{"exp":-5}`, claims{exp: -5}, true},
		{"duplicate", `{"iss":"a","iss":"b"}`, claims{}, false},
		{"unknown member", `{"ISS":"a"}`, claims{}, false},
		{"escape", `{"iss":"\u0061"}`, claims{}, false},
		{"non-ascii", `{"iss":"é"}`, claims{}, false},
		{"null", `{"iss":null}`, claims{}, false},
		{"float", `{"exp":1.5}`, claims{}, false},
		{"exponent", `{"exp":1e3}`, claims{}, false},
		{"leading zero", `{"exp":012}`, claims{}, false},
		{"19 digits", `{"exp":1234567890123456789}`, claims{}, false},
		{"trailing", `{"iss":"a"} x`, claims{}, false},
		{"trailing comma", `{"iss":"a",}`, claims{}, false},
		{"unterminated", `{"iss":"a"`, claims{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := scan(tc.in)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("scan(%s) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestResetString checks that ResetString scans as Reset does, without
// allocating.
func TestResetString(t *testing.T) {
	const in = ` {"a":["x","yz"],"n":-12} `
	scan := func(d *Scanner) ([]string, int64, bool) {
		var strs []string
		var n int64
		for more := d.Begin('{', '}'); more; more = d.More('}') {
			switch d.Key() {
			case "a":
				strs = d.Strings()
			case "n":
				n = d.Int64()
			default:
				d.Fail()
			}
		}
		return strs, n, d.End()
	}
	var d1, d2 Scanner
	d1.Reset([]byte(in), nil)
	arena := make([]string, 4)
	d2.ResetString(in, arena)
	s1, n1, ok1 := scan(&d1)
	s2, n2, ok2 := scan(&d2)
	if !ok1 || !ok2 || n1 != n2 || !reflect.DeepEqual(s1, s2) {
		t.Fatalf("Reset: %q %d %v; ResetString: %q %d %v", s1, n1, ok1, s2, n2, ok2)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		var d Scanner
		d.ResetString(in, arena)
		scan(&d)
	}); allocs != 0 {
		t.Fatalf("ResetString scan allocates %v times", allocs)
	}
}

// BenchmarkStrLong scans a 4 KB string, the size of the enveloped
// credential a depth-3 presentation carries.
func BenchmarkStrLong(b *testing.B) {
	in := `"data:application/vc+jwt,` + strings.Repeat("eyJhbGciOiJFZERTQSJ9", 205) + `"`
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		var d Scanner
		d.ResetString(in, nil)
		if d.Str() == "" || !d.End() {
			b.Fatal("scan")
		}
	}
}
