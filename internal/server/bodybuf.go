package server

import (
	"io"
	"net/http"
	"sync"
)

// bodyPool holds the buffers readBody reads request bodies into: a
// verification's body (about 3 KB) read by io.ReadAll took four
// allocations and copies as its buffer grew from 512 bytes.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// maxPooledBody is the largest buffer put back into bodyPool.
const maxPooledBody = 64 << 10

// readBody reads r's body, as io.ReadAll does, into a pooled buffer sized
// by Content-Length when it is given. Call release once nothing refers to
// the bytes any more.
func readBody(r *http.Request) (body []byte, release func(), err error) {
	p := bodyPool.Get().(*[]byte)
	b := (*p)[:0]
	if n := r.ContentLength; n > int64(cap(b)) && n <= MaxBodyBytes {
		b = make([]byte, 0, n+1) // +1: the read that sees EOF needs room
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, rerr := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	release = func() {
		if cap(b) <= maxPooledBody {
			*p = b[:0]
			bodyPool.Put(p)
		}
	}
	return b, release, err
}
