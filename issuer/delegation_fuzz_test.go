package issuer

import (
	"net/netip"
	"testing"

	"github.com/agentid/agentid/vc"
)

// FuzzNarrower holds the constraint attenuation (and its parsers of rates,
// networks and time windows) to its promise: whatever the input, it never
// panics, and a child's constraints it accepts are no looser than the
// parent's: rate per hour ≤ the parent's, every network inside one of
// the parent's, every minute of the window inside the parent's.
func FuzzNarrower(f *testing.F) {
	f.Add("60/m", "2/s", "10.1.0.0/16", "10.1.2.0/24", "08:00", "18:00", "09:00", "17:00", "", "")
	f.Add("1/h", "", "::/0", "2001:db8::/32", "22:00", "06:00", "23:00", "01:00", "UTC", "")
	f.Add("", "5/m", "", "192.168.0.0/16", "", "", "00:00", "00:00", "Europe/Paris", "Europe/Paris")
	f.Add("999999999/s", "1/s", "10.0.0.0/8", "10.0.0.0/7", "18:00", "08:00", "07:00", "09:00", "", "UTC")
	f.Fuzz(func(t *testing.T, pr, cr, pn, cn, ps, pe, cs, ce, ptz, ctz string) {
		parent := &vc.Constraints{RateLimit: pr}
		child := &vc.Constraints{RateLimit: cr}
		if pn != "" {
			parent.SourceNetworks = []string{pn}
		}
		if cn != "" {
			child.SourceNetworks = []string{cn}
		}
		if ps != "" || pe != "" {
			parent.TimeWindow = &vc.TimeWindow{Start: ps, End: pe, TZ: ptz}
		}
		if cs != "" || ce != "" {
			child.TimeWindow = &vc.TimeWindow{Start: cs, End: ce, TZ: ctz}
		}
		got, e := narrower(parent, child)
		if e != nil {
			if e.Code != CodeConstraintLooser && e.Code != CodeInvalidRequest {
				t.Fatalf("refusal code %s", e.Code)
			}
			return
		}
		if parent.RateLimit != "" {
			p, ok1 := ratePerHour(parent.RateLimit)
			c, ok2 := ratePerHour(got.RateLimit)
			if !ok1 || !ok2 || c > p {
				t.Fatalf("accepted rate %q under %q", got.RateLimit, parent.RateLimit)
			}
		}
		for _, n := range got.SourceNetworks {
			if len(parent.SourceNetworks) == 0 {
				break
			}
			c, err := netip.ParsePrefix(n)
			if err != nil {
				t.Fatalf("accepted network %q that does not parse", n)
			}
			p := netip.MustParsePrefix(parent.SourceNetworks[0])
			if c.Bits() < p.Bits() || !p.Contains(c.Masked().Addr()) {
				t.Fatalf("accepted network %s outside %s", c, p)
			}
		}
		if parent.TimeWindow != nil {
			pm, err1 := windowMinutes(parent.TimeWindow)
			cm, err2 := windowMinutes(got.TimeWindow)
			if err1 != nil || err2 != nil {
				t.Fatalf("accepted a window that does not parse: %v %v", err1, err2)
			}
			for m := range cm {
				if cm[m] && !pm[m] {
					t.Fatalf("accepted window %+v outside %+v at minute %d", got.TimeWindow, parent.TimeWindow, m)
				}
			}
		}
	})
}
