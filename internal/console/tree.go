package console

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/issuer"
)

// treeNode is one agent of a delegation tree as the console draws it.
type treeNode struct {
	issuer.Agent
	// Here marks the agent whose page shows the tree.
	Here     bool
	Children []*treeNode
}

// delegationView is the delegation block of the agent page.
type delegationView struct {
	// Ancestors run from the root agent down to the agent's parent.
	Ancestors []issuer.Agent
	// Hidden counts ancestors the principal may not see (shown without
	// a link).
	Hidden []string
	// Tree is the agent and its descendants.
	Tree *treeNode
	// Descendants counts the agents under it; Live those of them not
	// already revoked or retired.
	Descendants, Live int
}

// maxTreeDepth bounds the ancestor walk (the issuer bounds delegation
// depth far below it).
const maxTreeDepth = 64

// ancestors returns a's ancestors, root first, that the principal may see,
// and the DIDs of those it may not.
func (c *Console) ancestors(ctx context.Context, s *session, a *issuer.Agent) (seen []issuer.Agent, hidden []string, err error) {
	for p, i := a.Parent, 0; p != "" && i < maxTreeDepth; i++ {
		pa, err := c.cfg.Issuer.Agent(ctx, s.principal, p)
		if err != nil {
			if e, ok := issuer.Refusal(err); ok && e.Code == issuer.CodeUnknownAgent {
				hidden = append(hidden, p)
				break
			}
			return nil, nil, err
		}
		seen = append(seen, *pa)
		p = pa.Parent
	}
	slices.Reverse(seen)
	return seen, hidden, nil
}

// forest links agents by their Parent: the roots are the agents whose
// parent is not among them, each list in creation order.
func forest(all []issuer.Agent) (roots []*treeNode, byDID map[string]*treeNode) {
	byDID = make(map[string]*treeNode, len(all))
	for i := range all {
		byDID[all[i].DID] = &treeNode{Agent: all[i]}
	}
	for i := range all {
		n := byDID[all[i].DID]
		if p, ok := byDID[n.Parent]; ok && n.Parent != "" && n.Parent != n.DID {
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	byTime := func(a, b *treeNode) int { return a.CreatedAt.Compare(b.CreatedAt) }
	slices.SortFunc(roots, byTime)
	for _, n := range byDID {
		slices.SortFunc(n.Children, byTime)
	}
	return roots, byDID
}

// count returns how many agents are under n, and how many of them are
// still in service (neither revoked nor retired).
func (n *treeNode) count() (all, live int) {
	for _, ch := range n.Children {
		all++
		if ch.Status != issuer.StatusRevoked && ch.Status != issuer.StatusRetired {
			live++
		}
		a, l := ch.count()
		all, live = all+a, live+l
	}
	return all, live
}

// subtree returns a as the root of its tree of descendants. Sub-agents are
// registered under the root principal of their tree, so only that
// principal's agents are read; an agent whose tree may not be deeper
// than itself has no descendants and costs no read.
func (c *Console) subtree(ctx context.Context, s *session, a *issuer.Agent) (*treeNode, error) {
	if a.MaxDepth <= a.Depth {
		return &treeNode{Agent: *a, Here: true}, nil
	}
	all, err := c.cfg.Issuer.Agents(ctx, s.principal, issuer.AgentFilter{CreatedBy: a.CreatedBy})
	if err != nil {
		return nil, err
	}
	_, byDID := forest(all)
	n, ok := byDID[a.DID]
	if !ok {
		return &treeNode{Agent: *a, Here: true}, nil
	}
	n.Agent, n.Here = *a, true
	return n, nil
}

// delegation builds the agent page's delegation block.
func (c *Console) delegation(ctx context.Context, s *session, a *issuer.Agent) (*delegationView, error) {
	d := &delegationView{}
	var err error
	if d.Ancestors, d.Hidden, err = c.ancestors(ctx, s, a); err != nil {
		return nil, err
	}
	if d.Tree, err = c.subtree(ctx, s, a); err != nil {
		return nil, err
	}
	d.Descendants, d.Live = d.Tree.count()
	return d, nil
}

type taskPage struct {
	Task  string
	Roots []*treeNode
	// N counts the task's agents.
	N int
	// Truncated: the inventory was read only in part (see overviewScan).
	Truncated bool
}

// task shows the delegation trees of a job: every agent of the task the
// principal may see, linked by parent.
func (c *Console) task(g *gin.Context) {
	s := sess(g)
	id := strings.TrimSpace(g.Query("id"))
	if id == "" || len(id) > 256 {
		c.refuse(g, http.StatusBadRequest, string(issuer.CodeInvalidRequest), "Name a task.")
		return
	}
	var picked []issuer.Agent
	p := &taskPage{Task: id}
	cursor := ""
	// Read as much of the inventory as the overview counts, at most.
	for i := 0; ; i++ {
		page, more, err := c.cfg.Issuer.AgentPage(g.Request.Context(), s.principal, issuer.AgentFilter{}, cursor, issuer.MaxAgentPage)
		if err != nil {
			c.fail(g, err)
			return
		}
		for i := range page {
			if page[i].Task == id {
				picked = append(picked, page[i])
			}
		}
		if more == "" {
			break
		}
		if i == overviewScan-1 {
			p.Truncated = true
			break
		}
		cursor = more
	}
	p.Roots, _ = forest(picked)
	p.N = len(picked)
	c.render(g, http.StatusOK, "task", s, p)
}
