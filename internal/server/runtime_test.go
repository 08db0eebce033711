package server

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneRuntime(t *testing.T) {
	gc := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	procs0, gc0 := runtime.GOMAXPROCS(0), gc()
	for _, tc := range []struct {
		name            string
		maxprocs, gogc  string
		wantProcs, want int
	}{
		{"defaults", "", "", procs0 + 1, 400},
		{"GOMAXPROCS set", "1", "", procs0, 400},
		{"GOGC set", "", "100", procs0 + 1, gc0},
		{"both set", "3", "50", procs0, gc0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tc.maxprocs)
			t.Setenv("GOGC", tc.gogc)
			tu, restore := TuneRuntime()
			if got := runtime.GOMAXPROCS(0); got != tc.wantProcs || tu.Procs != got || tu.Cores != procs0 {
				t.Errorf("GOMAXPROCS %d (reported %d, cores %d), want %d (cores %d)", got, tu.Procs, tu.Cores, tc.wantProcs, procs0)
			}
			if got := gc(); got != tc.want || tu.GCPercent != got {
				t.Errorf("GC percent %d (reported %d), want %d", got, tu.GCPercent, tc.want)
			}
			restore()
			if runtime.GOMAXPROCS(0) != procs0 || gc() != gc0 {
				t.Errorf("restore left GOMAXPROCS %d and GC percent %d, want %d and %d", runtime.GOMAXPROCS(0), gc(), procs0, gc0)
			}
		})
	}
}
