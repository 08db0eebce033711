package audit

import (
	"bytes"
	"testing"
)

func FuzzZZTrivial(f *testing.F) {
	f.Add([]byte("abc"))
	f.Fuzz(func(t *testing.T, d []byte) { _ = bytes.Count(d, []byte("a")) })
}
