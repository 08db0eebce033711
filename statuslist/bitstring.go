package statuslist

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"sync"
)

// MinSize is the minimum number of entries in a status list: 131,072 bits,
// 16 KiB uncompressed (Bitstring Status List v1.0, section 2.1). It gives a
// credential a herd of at least that many others.
const MinSize = 131072

// DefaultMaxDecodedBytes bounds the decompressed size of a list that Decode
// accepts when the caller passes no limit: 16 MiB, 134,217,728 entries.
const DefaultMaxDecodedBytes = 16 << 20

// multibaseBase64URL is the multibase prefix of base64url without padding.
const multibaseBase64URL = 'u'

var b64 = base64.RawURLEncoding.Strict()

// Bitstring is an uncompressed status list: one bit per entry, index 0 the
// most significant (left-most) bit of byte 0 and index Len()-1 the least
// significant bit of the last byte. The zero value is an empty list; use
// New or Decode. A Bitstring is not safe for concurrent mutation.
type Bitstring struct {
	b []byte
}

// New returns an all-zero list of at least size entries. A size below
// MinSize is raised to MinSize, and every size is rounded up to a whole
// byte, because the wire format has no way to express a partial byte.
func New(size int) *Bitstring {
	if size < MinSize {
		size = MinSize
	}
	return newBits(size)
}

// newBits is New without the minimum, for tests over small domains.
func newBits(size int) *Bitstring {
	return &Bitstring{b: make([]byte, (size+7)/8)}
}

// Len returns the number of entries.
func (l *Bitstring) Len() int { return len(l.b) * 8 }

// Bytes returns the underlying bytes; the caller must not modify them.
func (l *Bitstring) Bytes() []byte { return l.b }

// Get reports whether the bit at index i is set.
func (l *Bitstring) Get(i int) (bool, error) {
	if i < 0 || i >= len(l.b)*8 {
		return false, ErrIndexOutOfRange
	}
	return getBit(l.b, i), nil
}

// Set sets the bit at index i.
func (l *Bitstring) Set(i int) error {
	if i < 0 || i >= len(l.b)*8 {
		return ErrIndexOutOfRange
	}
	l.b[i>>3] |= 0x80 >> (i & 7)
	return nil
}

// Clear clears the bit at index i.
func (l *Bitstring) Clear(i int) error {
	if i < 0 || i >= len(l.b)*8 {
		return ErrIndexOutOfRange
	}
	l.b[i>>3] &^= 0x80 >> (i & 7)
	return nil
}

// getBit reads bit i of b, MSB first; the caller checks the range.
func getBit(b []byte, i int) bool {
	return b[i>>3]&(0x80>>(i&7)) != 0
}

// gzipWriters recycles compressors: a flate compressor is several hundred
// KiB of state, which would otherwise dominate the cost of re-signing.
//
// BestSpeed is deliberate. Its cost is linear and small whatever the bits
// (under 0.3 ms for a 16 KiB list on this project's machines), while the
// default and best levels hit slow paths on sparse random bits: 2.5 ms at
// level 6 and 12 ms at level 9 for a list with a few thousand bits set, on
// the revocation path. The output is 15-25% larger on such lists, and the
// same 55 bytes for an empty one.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// Encode returns the encodedList form of the list: multibase base64url (prefix
// 'u', no padding) of the GZIP-compressed bitstring.
func (l *Bitstring) Encode() (string, error) {
	var buf bytes.Buffer
	buf.Grow(256)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(l.b); err != nil {
		return "", fmt.Errorf("statuslist: compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("statuslist: compress: %w", err)
	}
	out := make([]byte, 1+b64.EncodedLen(buf.Len()))
	out[0] = multibaseBase64URL
	b64.Encode(out[1:], buf.Bytes())
	return string(out), nil
}

// Decode parses an encodedList. maxBytes caps the decompressed size in bytes
// (DefaultMaxDecodedBytes when maxBytes <= 0); the GZIP stream is read
// through an io.LimitReader, so a bomb costs at most maxBytes+1 bytes of
// output before it is refused. Decode fails with ErrMalformedList (wrong
// multibase prefix, bad base64url, padding, not GZIP, a corrupt stream),
// ErrListTooLarge or ErrListTooShort (fewer than MinSize entries).
//
// The returned list holds exactly the decompressed bytes and nothing else.
func Decode(s string, maxBytes int) (*Bitstring, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDecodedBytes
	}
	b, err := decodeBytes(s, maxBytes)
	if err != nil {
		return nil, err
	}
	if len(b)*8 < MinSize {
		return nil, fmt.Errorf("%w: it has %d entries", ErrListTooShort, len(b)*8)
	}
	return &Bitstring{b: b}, nil
}

// decodeBytes is Decode without the minimum length.
func decodeBytes(s string, maxBytes int) ([]byte, error) {
	if len(s) == 0 || s[0] != multibaseBase64URL {
		return nil, fmt.Errorf("%w: multibase prefix is not 'u' (base64url)", ErrMalformedList)
	}
	// A GZIP stream of maxBytes of output needs at least maxBytes/1032
	// bytes of input (DEFLATE's best ratio); anything far above that is no
	// status list this caller would accept. The bound keeps a hostile
	// encodedList from costing more than a constant factor of maxBytes.
	if limit := b64.EncodedLen(maxBytes + maxBytes/8 + 1024); len(s)-1 > limit {
		return nil, fmt.Errorf("%w: encodedList is %d bytes", ErrListTooLarge, len(s))
	}
	z, err := b64.DecodeString(s[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: base64url: %v", ErrMalformedList, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformedList, err)
	}
	// Grow from the common 16 KiB size so that an ordinary list is read
	// with one allocation of the right size plus a little.
	buf := bytes.NewBuffer(make([]byte, 0, MinSize/8+512))
	n, err := io.Copy(buf, io.LimitReader(zr, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformedList, err)
	}
	if n > int64(maxBytes) {
		return nil, fmt.Errorf("%w: over %d bytes", ErrListTooLarge, maxBytes)
	}
	if err := zr.Close(); err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformedList, err)
	}
	b := buf.Bytes()
	if cap(b) != len(b) {
		// Keep exactly the list: the cache holds it for minutes.
		b = bytes.Clone(b)
	}
	return b, nil
}
