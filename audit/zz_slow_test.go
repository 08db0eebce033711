package audit

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestZZSlow(t *testing.T) {
	d, _ := os.ReadFile("/tmp/slow.in")
	var max time.Duration
	st0 := time.Now()
	for range 2000 {
		st := time.Now()
		VerifyLines(bytes.NewReader(d))
		max = maxd(max, time.Since(st))
	}
	t.Log("total", time.Since(st0), "max", max)
}
func maxd(a, b time.Duration) time.Duration { if a > b { return a }; return b }
