package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/issuer"
)

// chartMinutes is the span of the overview's per-minute charts.
const chartMinutes = 60

// chart is a per-minute bar chart, drawn server-side as SVG.
type chart struct {
	ID, Title  string
	Total, Max int
	Bars       []bar
}

type bar struct {
	X, Y, H int
	Label   string
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW   = 600
	chartH   = 100
	barWidth = chartW / chartMinutes
)

func newChart(id, title string, counts []int, start time.Time) chart {
	ch := chart{ID: id, Title: title}
	for _, n := range counts {
		ch.Total += n
		ch.Max = max(ch.Max, n)
	}
	for i, n := range counts {
		if n == 0 {
			continue
		}
		h := max(1, n*chartH/max(ch.Max, 1))
		ch.Bars = append(ch.Bars, bar{X: i * barWidth, Y: chartH - h, H: h,
			Label: fmt.Sprintf("%s: %d", start.Add(time.Duration(i)*time.Minute).UTC().Format("15:04"), n)})
	}
	return ch
}

type overviewPage struct {
	Counts  []statusCount
	Total   int
	Charts  []chart
	Summary *audit.Summary
	Risky   []audit.AgentSummary
	// Dormant and Expired list the first listLimit agents of DormantN
	// and ExpiredN.
	Dormant            []issuer.Agent
	Expired            []issuer.Agent
	DormantN, ExpiredN int
	Truncated          bool
	// Waiting counts the pending approval requests the principal sees
	// (every one for those who decide, its own for an orchestrator).
	Waiting int
}

type statusCount struct {
	Status string
	N      int
}

// statuses are the inventory's computed statuses, in display order.
var statuses = []string{"active", "suspended", "revoked", "expired", "retired", "orphaned"}

// overviewScan bounds the records the overview counts (pages of
// issuer.MaxAgentPage): the counts say when they stopped short.
const overviewScan = 20

// listLimit bounds the dormant and expired agents the overview lists.
const listLimit = 20

func (c *Console) overview(g *gin.Context) {
	s := sess(g)
	ctx := g.Request.Context()
	p := &overviewPage{}
	by := map[string]int{}
	cursor := ""
	for i := 0; ; i++ {
		page, next, err := c.cfg.Issuer.AgentPage(ctx, s.principal, issuer.AgentFilter{}, cursor, issuer.MaxAgentPage)
		if err != nil {
			c.fail(g, err)
			return
		}
		for j := range page {
			by[page[j].Status]++
			p.Total++
		}
		if next == "" {
			break
		}
		if i == overviewScan-1 {
			p.Truncated = true
			break
		}
		cursor = next
	}
	for _, st := range statuses {
		p.Counts = append(p.Counts, statusCount{st, by[st]})
	}
	waiting, err := c.cfg.Issuer.Approvals(ctx, s.principal, issuer.ApprovalPending)
	if err != nil {
		c.fail(g, err)
		return
	}
	p.Waiting = len(waiting)
	if p.Dormant, err = c.cfg.Issuer.Agents(ctx, s.principal, issuer.AgentFilter{Dormant: true}); err != nil {
		c.fail(g, err)
		return
	}
	if p.Expired, err = c.cfg.Issuer.Agents(ctx, s.principal, issuer.AgentFilter{Expired: true}); err != nil {
		c.fail(g, err)
		return
	}
	p.DormantN, p.ExpiredN = len(p.Dormant), len(p.Expired)
	p.Dormant, p.Expired = p.Dormant[:min(len(p.Dormant), listLimit)], p.Expired[:min(len(p.Expired), listLimit)]
	if s.principal.Role == issuer.RoleAdmin {
		now := c.cfg.Now().UTC().Truncate(time.Minute)
		start := now.Add(-(chartMinutes - 1) * time.Minute)
		var issued, verified, refused [chartMinutes]int
		err := c.cfg.Issuer.AuditQuery(ctx, s.principal, audit.Filter{Since: start}, func(ev *audit.Event) error {
			i := int(ev.Time.Sub(start) / time.Minute)
			if i < 0 || i >= chartMinutes {
				return nil
			}
			switch {
			case ev.Decision == audit.DecisionDeny || ev.Action == audit.ActionRefusalsAggregate:
				refused[i]++
			case ev.Action == audit.ActionAgentIssue || ev.Action == audit.ActionCredentialRefresh:
				issued[i]++
			}
			if ev.Action == audit.ActionVerify {
				verified[i]++
			}
			return nil
		})
		if err != nil {
			c.fail(g, err)
			return
		}
		p.Charts = []chart{
			newChart("issuances", "Issuances and refreshes per minute", issued[:], start),
			newChart("verifications", "Verifications per minute", verified[:], start),
			newChart("refusals", "Refusals per minute", refused[:], start),
		}
		if p.Summary, err = c.cfg.Issuer.AuditSummary(ctx, s.principal, 24*time.Hour); err != nil {
			c.fail(g, err)
			return
		}
		for _, a := range p.Summary.Agents {
			if a.Risk > 0 && len(p.Risky) < 10 {
				p.Risky = append(p.Risky, a)
			}
		}
	}
	c.render(g, http.StatusOK, "overview", s, p)
}
