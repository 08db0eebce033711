package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentid/agentid/reason"
)

// Defaults for SummaryOptions.
const (
	DefaultSpikeFactor   = 5.0
	DefaultSpikeMinCount = 20
	DefaultDormantAfter  = 7 * 24 * time.Hour
)

// Risk weights: see AgentSummary.Risk.
const (
	riskRevokedUse      = 10
	riskScopeEscalation = 5
	riskOtherDenial     = 2
	riskNewResource     = 3
	riskRateSpike       = 25
)

// AgentState is what the inventory knows about an agent; the audit log
// alone cannot tell an agent that exists but is idle from one that never
// existed.
type AgentState struct {
	DID       string    `json:"did"`
	LastSeen  time.Time `json:"lastSeen"`  // as recorded by the inventory; zero if never
	ExpiresAt time.Time `json:"expiresAt"` // end of the registration lifetime; zero if none
	Retired   bool      `json:"retired"`
}

// SummaryOptions configures a summary (see SummaryBuilder). The zero value
// uses the defaults.
type SummaryOptions struct {
	// SpikeFactor: a minute with more than SpikeFactor times the agent's
	// baseline rate is a spike. Zero means DefaultSpikeFactor.
	SpikeFactor float64 `json:"spikeFactor"`
	// SpikeMinCount: a minute with fewer verify events is never a spike,
	// so that a quiet agent's baseline of almost zero does not flag every
	// request. Zero means DefaultSpikeMinCount.
	SpikeMinCount int `json:"spikeMinCount"`
	// DormantAfter: an agent unused for this long is dormant. Zero means
	// DefaultDormantAfter.
	DormantAfter time.Duration `json:"dormantAfter"`
	// Agents is the inventory, for the dormant and expired-not-retired
	// lists. Nil skips both.
	Agents []AgentState `json:"agents,omitempty"`
}

// AgentSummary is the activity of one agent (events whose Subject is the
// agent's DID) within the window.
type AgentSummary struct {
	Agent           string         `json:"agent"`
	Events          int            `json:"events"`                    // all events about the agent
	Requests        int            `json:"requests"`                  // verify events
	Denials         int            `json:"denials"`                   // events with decision deny
	DenialsByReason map[string]int `json:"denialsByReason,omitempty"` // deny events by Reason ("" as "unspecified")
	// NewResources are resources first seen in the window that the agent
	// never touched before it, sorted.
	NewResources []string `json:"newResources,omitempty"`
	// RevokedUses counts denials for a revoked or suspended credential.
	RevokedUses int `json:"revokedUses"`
	// ScopeEscalations counts denials for insufficient_scope: scopes asked
	// beyond the grant.
	ScopeEscalations int `json:"scopeEscalations"`
	// PeakPerMinute is the most verify events in one calendar minute of
	// the window; BaselinePerMinute the agent's mean verify events per
	// minute before the window, from its first event to the window start.
	PeakPerMinute     int     `json:"peakPerMinute"`
	BaselinePerMinute float64 `json:"baselinePerMinute"`
	// RateSpike is PeakPerMinute > SpikeFactor × BaselinePerMinute and
	// PeakPerMinute ≥ SpikeMinCount.
	RateSpike bool `json:"rateSpike"`
	// Risk orders agents for review. It is
	//
	//	10 × RevokedUses + 5 × ScopeEscalations
	//	+ 2 × (Denials − RevokedUses − ScopeEscalations)
	//	+ 3 × len(NewResources) + 25 × RateSpike
	//
	// A use of a dead credential weighs most: it means a leaked or
	// forgotten credential. Probing for scopes comes next; other denials
	// (expired, replayed...) are often clock or client bugs.
	Risk int `json:"risk"`
}

// Summary is the output of a SummaryBuilder.
type Summary struct {
	Since  time.Time      `json:"since"`            // window start (inclusive)
	Until  time.Time      `json:"until"`            // the log's clock when the summary was made
	Events int            `json:"events"`           // events in the window, of any subject
	Agents []AgentSummary `json:"agents,omitempty"` // agents active in the window, by Risk descending then DID
	// DormantAgents are inventory agents, neither retired nor expired,
	// with no event for DormantAfter. LastSeen is the later of the
	// inventory's and the log's last event about the agent (reported events
	// excluded). Sorted by DID.
	DormantAgents []AgentState `json:"dormantAgents,omitempty"`
	// ExpiredNotRetired are inventory agents past ExpiresAt that were not
	// retired (by the inventory or by an agent.retire event). Sorted by DID.
	ExpiredNotRetired []AgentState `json:"expiredNotRetired,omitempty"`
}

// agentAcc accumulates one agent's events during the scan.
type agentAcc struct {
	sum         AgentSummary
	before      int       // verify events before the window
	firstVerify time.Time // first verify event before the window
	perMinute   map[int64]int
	oldRes      map[string]bool
	newRes      map[string]bool
	lastEvent   time.Time
	retired     bool
}

// SummaryBuilder computes a Summary from a log's events. Give it every
// event of the log, in seq order, through Add, then call Summary: the
// events at or after since form the window, and those before it each
// agent's baseline. These are local anomaly rules over the audit trail,
// meant to order an admin's attention, not to block anything.
//
// A SummaryBuilder is not safe for concurrent use.
type SummaryBuilder struct {
	since time.Time
	now   time.Time
	opts  SummaryOptions
	s     *Summary
	accs  map[string]*agentAcc
}

// NewSummaryBuilder returns a builder for the window from since to now,
// the log's clock at the time of the summary. Zero fields of opts take
// their defaults; a negative one fails with an error wrapping ErrBadFilter.
func NewSummaryBuilder(since, now time.Time, opts SummaryOptions) (*SummaryBuilder, error) {
	if opts.SpikeFactor < 0 || opts.SpikeMinCount < 0 || opts.DormantAfter < 0 {
		return nil, fmt.Errorf("%w: negative summary option", ErrBadFilter)
	}
	if opts.SpikeFactor == 0 {
		opts.SpikeFactor = DefaultSpikeFactor
	}
	if opts.SpikeMinCount == 0 {
		opts.SpikeMinCount = DefaultSpikeMinCount
	}
	if opts.DormantAfter == 0 {
		opts.DormantAfter = DefaultDormantAfter
	}
	now = now.UTC()
	return &SummaryBuilder{
		since: since,
		now:   now,
		opts:  opts,
		s:     &Summary{Since: since.UTC(), Until: now},
		accs:  map[string]*agentAcc{},
	}, nil
}

// Add counts ev, the next event of the log.
func (b *SummaryBuilder) Add(ev *Event) {
	inWindow := !ev.Time.Before(b.since)
	if inWindow {
		b.s.Events++
	}
	// Principal and key events name principals, not agents.
	if ev.Subject == "" || strings.HasPrefix(ev.Action, "principal.") || strings.HasPrefix(ev.Action, "key.") {
		return
	}
	a := b.accs[ev.Subject]
	if a == nil {
		a = &agentAcc{sum: AgentSummary{Agent: ev.Subject}, oldRes: map[string]bool{}}
		b.accs[ev.Subject] = a
	}
	// A reported event is the reporter's word, its time included: it
	// never makes an agent look recently active, nor feeds the baseline
	// that a spike is measured against.
	if !ev.Reported && ev.Time.After(a.lastEvent) {
		a.lastEvent = ev.Time
	}
	if ev.Action == ActionAgentRetire && ev.Decision == DecisionAllow {
		a.retired = true
	}
	verify := ev.Action == ActionVerify
	if !inWindow {
		if verify && !ev.Reported {
			a.before++
			if a.firstVerify.IsZero() || ev.Time.Before(a.firstVerify) {
				a.firstVerify = ev.Time
			}
		}
		if reaches(ev) {
			a.oldRes[ev.Resource] = true
		}
		return
	}
	a.observe(ev)
}

// reaches reports whether ev is an agent reaching a resource: a
// verification or an access-token grant for it. Other events may name
// something else in Resource (an approval's id, an issuance's audience)
// that is not a place the agent went.
func reaches(ev *Event) bool {
	return ev.Resource != "" && (ev.Action == ActionVerify || ev.Action == ActionOAuthToken)
}

// Summary returns the summary of the events added so far, checked against
// the inventory in the options. Call it once, after the last Add.
func (b *SummaryBuilder) Summary() *Summary {
	s, since, opts, now := b.s, b.since, b.opts, b.now
	for _, a := range b.accs {
		if a.sum.Events == 0 {
			continue // seen only before the window
		}
		s.Agents = append(s.Agents, a.finish(since, opts))
	}
	slices.SortFunc(s.Agents, func(x, y AgentSummary) int {
		if c := cmp.Compare(y.Risk, x.Risk); c != 0 {
			return c
		}
		return cmp.Compare(x.Agent, y.Agent)
	})

	for _, st := range opts.Agents {
		retired := st.Retired
		if a := b.accs[st.DID]; a != nil {
			retired = retired || a.retired
			if a.lastEvent.After(st.LastSeen) {
				st.LastSeen = a.lastEvent
			}
		}
		if retired {
			continue
		}
		expired := !st.ExpiresAt.IsZero() && !now.Before(st.ExpiresAt)
		switch {
		case expired:
			s.ExpiredNotRetired = append(s.ExpiredNotRetired, st)
		case now.Sub(st.LastSeen) >= opts.DormantAfter:
			s.DormantAgents = append(s.DormantAgents, st)
		}
	}
	byDID := func(x, y AgentState) int { return cmp.Compare(x.DID, y.DID) }
	slices.SortFunc(s.DormantAgents, byDID)
	slices.SortFunc(s.ExpiredNotRetired, byDID)
	return s
}

// observe counts an event of the window.
func (a *agentAcc) observe(ev *Event) {
	a.sum.Events++
	if ev.Action == ActionVerify {
		a.sum.Requests++
		if a.perMinute == nil {
			a.perMinute = map[int64]int{}
		}
		a.perMinute[ev.Time.Truncate(time.Minute).Unix()]++
	}
	if reaches(ev) && !a.oldRes[ev.Resource] {
		if a.newRes == nil {
			a.newRes = map[string]bool{}
		}
		a.newRes[ev.Resource] = true
	}
	if ev.Decision != DecisionDeny {
		return
	}
	a.sum.Denials++
	r := ev.Reason
	if r == "" {
		r = "unspecified"
	}
	if a.sum.DenialsByReason == nil {
		a.sum.DenialsByReason = map[string]int{}
	}
	a.sum.DenialsByReason[r]++
	switch reason.Code(ev.Reason) {
	case reason.Revoked, reason.Suspended:
		a.sum.RevokedUses++
	case reason.InsufficientScope:
		a.sum.ScopeEscalations++
	}
}

// finish computes the derived fields.
func (a *agentAcc) finish(since time.Time, opts SummaryOptions) AgentSummary {
	s := a.sum
	for r := range a.newRes {
		s.NewResources = append(s.NewResources, r)
	}
	slices.Sort(s.NewResources)
	for _, n := range a.perMinute {
		s.PeakPerMinute = max(s.PeakPerMinute, n)
	}
	if a.before > 0 {
		minutes := max(since.Sub(a.firstVerify).Minutes(), 1)
		s.BaselinePerMinute = float64(a.before) / minutes
	}
	s.RateSpike = s.PeakPerMinute >= opts.SpikeMinCount &&
		float64(s.PeakPerMinute) > opts.SpikeFactor*s.BaselinePerMinute
	s.Risk = riskRevokedUse*s.RevokedUses +
		riskScopeEscalation*s.ScopeEscalations +
		riskOtherDenial*(s.Denials-s.RevokedUses-s.ScopeEscalations) +
		riskNewResource*len(s.NewResources)
	if s.RateSpike {
		s.Risk += riskRateSpike
	}
	return s
}
