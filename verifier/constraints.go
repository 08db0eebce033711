package verifier

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time windows name IANA zones; do not depend on the host's database

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// constraintChecker evaluates a credential's constraints against a request.
// It keeps per-agent rate counters (bounded) and a cache of time zones.
type constraintChecker struct {
	mu    sync.Mutex
	rates map[string]*window
	zones sync.Map // string → *time.Location
	max   int
}

type window struct {
	start int64 // unix nanos of the current window
	count int
}

func violated(format string, args ...any) error {
	return reason.New(reason.ConstraintViolated, fmt.Sprintf(format, args...))
}

func (c *constraintChecker) check(cons *vc.Constraints, agent, sourceIP string, now time.Time) error {
	if cons == nil {
		return nil
	}
	if len(cons.SourceNetworks) > 0 {
		if err := checkSource(cons.SourceNetworks, sourceIP); err != nil {
			return err
		}
	}
	if cons.TimeWindow != nil {
		if err := c.checkWindow(cons.TimeWindow, now); err != nil {
			return err
		}
	}
	if cons.RateLimit != "" {
		if err := c.checkRate(cons.RateLimit, agent, now); err != nil {
			return err
		}
	}
	return nil
}

func checkSource(nets []string, sourceIP string) error {
	if sourceIP == "" {
		return violated("credential is limited to source networks and the request's source address is unknown")
	}
	ip, err := netip.ParseAddr(sourceIP)
	if err != nil {
		return violated("source address %q is not an IP address", sourceIP)
	}
	ip = ip.Unmap()
	for _, n := range nets {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return violated("credential names an invalid source network %q", n)
		}
		if p.Contains(ip) {
			return nil
		}
	}
	return violated("source address %s is outside the credential's networks", ip)
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad time of day %q", s)
	}
	return hh*60 + mm, nil
}

func (c *constraintChecker) checkWindow(w *vc.TimeWindow, now time.Time) error {
	start, err1 := parseClock(w.Start)
	end, err2 := parseClock(w.End)
	if err1 != nil || err2 != nil {
		return violated("credential has an invalid time window")
	}
	tz := w.TZ
	if tz == "" {
		tz = "UTC"
	}
	var loc *time.Location
	if l, ok := c.zones.Load(tz); ok {
		loc = l.(*time.Location)
	} else {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return violated("credential names an unknown time zone %q", tz)
		}
		c.zones.Store(tz, l)
		loc = l
	}
	t := now.In(loc)
	m := t.Hour()*60 + t.Minute()
	in := false
	if start <= end {
		in = m >= start && m < end
	} else { // the window spans midnight
		in = m >= start || m < end
	}
	if !in {
		return violated("outside the credential's time window %s-%s %s", w.Start, w.End, tz)
	}
	return nil
}

func parseRate(s string) (int, time.Duration, error) {
	n, unit, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count <= 0 {
		return 0, 0, fmt.Errorf("bad rate %q", s)
	}
	switch unit {
	case "s":
		return count, time.Second, nil
	case "m":
		return count, time.Minute, nil
	case "h":
		return count, time.Hour, nil
	}
	return 0, 0, fmt.Errorf("bad rate %q", s)
}

// checkRate counts requests per agent in fixed windows of the rate's unit.
// It is per verifier process: several replicas each allow the full rate.
func (c *constraintChecker) checkRate(rate, agent string, now time.Time) error {
	limit, per, err := parseRate(rate)
	if err != nil {
		return violated("credential has an invalid rate limit")
	}
	n := now.UnixNano()
	ws := n - n%int64(per)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rates == nil {
		c.rates = make(map[string]*window)
	}
	key := agent + "\x00" + rate
	w := c.rates[key]
	if w == nil {
		if len(c.rates) >= c.max {
			// Drop windows that have ended; hours-long windows may remain.
			for k, v := range c.rates {
				if v.start < n-int64(time.Hour) {
					delete(c.rates, k)
				}
			}
			if len(c.rates) >= c.max {
				return violated("rate limiter is full; refusing rather than not counting")
			}
		}
		w = &window{start: ws}
		c.rates[key] = w
	}
	if w.start != ws {
		w.start, w.count = ws, 0
	}
	if w.count >= limit {
		return violated("rate limit %s exceeded", rate)
	}
	w.count++
	return nil
}
