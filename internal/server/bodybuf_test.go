package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	for _, size := range []int{0, 1, 3000, 8<<10 - 1, 8 << 10, 8<<10 + 1, 70 << 10} {
		for _, withLength := range []bool{true, false} {
			want := bytes.Repeat([]byte("abcdefghij"), size/10+1)[:size]
			for round := 0; round < 2; round++ { // the second reuses a pooled buffer
				var r io.Reader = bytes.NewReader(want)
				if !withLength {
					r = iotest.HalfReader(r) // short reads, no length
				}
				req := httptest.NewRequest(http.MethodPost, "/v1/verify", r)
				if !withLength {
					req.ContentLength = -1
				}
				got, release, err := readBody(req)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("size %d, length %v: %d bytes, %v", size, withLength, len(got), err)
				}
				release()
			}
		}
	}
	// Over the limit: the MaxBytesReader's error, as io.ReadAll gave it.
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(strings.Repeat("x", 100)))
	req.Body = http.MaxBytesReader(w, req.Body, 10)
	_, release, err := readBody(req)
	release()
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Fatalf("over the limit: %v, want *http.MaxBytesError", err)
	}
	// A failing body fails the read.
	req = httptest.NewRequest(http.MethodPost, "/v1/verify", iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, release, err = readBody(req); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("failing body: %v", err)
	}
	release()
}

// BenchmarkReadBody: a 3 KB verification body through io.ReadAll (the
// baseline) and readBody, same run.
func BenchmarkReadBody(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 3000)
	for _, v := range []struct {
		name string
		read func(*http.Request) error
	}{
		{"io.ReadAll", func(r *http.Request) error { _, err := io.ReadAll(r.Body); return err }},
		{"readBody", func(r *http.Request) error { _, release, err := readBody(r); release(); return err }},
	} {
		b.Run(v.name, func(b *testing.B) {
			rd := bytes.NewReader(body)
			req := httptest.NewRequest(http.MethodPost, "/v1/verify", rd)
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				req.Body = io.NopCloser(rd)
				if err := v.read(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
