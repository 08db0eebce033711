package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// retireGroup is 'agent retire --tree DID' and 'agent retire --task ID'.
func retireGroup(c *cobra.Command, cn *conn, tree, task string) error {
	var out []api.Agent
	if err := cn.call(func(cl *client.Client) (err error) {
		if tree != "" {
			out, err = cl.RetireTree(c.Context(), tree)
		} else {
			out, err = cl.RetireTask(c.Context(), task)
		}
		return err
	}); err != nil {
		return err
	}
	if cn.json {
		return printJSON(c.OutOrStdout(), out)
	}
	for _, a := range out {
		fmt.Fprintf(c.OutOrStdout(), "retired %s (%d credentials revoked)\n", printable(a.DID), len(a.Credentials))
	}
	return nil
}

// treeCmd is 'agent tree': the inventory as delegation trees.
func treeCmd(cn *conn) *cobra.Command {
	var root, task string
	c := &cobra.Command{
		Use: "tree", Short: "Print the delegation trees of the inventory with each agent's status", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var all []api.Agent
			if err := cn.call(func(cl *client.Client) error {
				return cl.EachAgent(c.Context(), client.AgentFilter{}, func(a *api.Agent) error {
					all = append(all, *a)
					return nil
				})
			}); err != nil {
				return err
			}
			return printTree(c.OutOrStdout(), all, root, task, cn.json)
		},
	}
	c.Flags().StringVar(&root, "root", "", "only the tree under this agent")
	c.Flags().StringVar(&task, "task", "", "only the trees holding an agent of this job")
	return c
}

// treeNode is an agent and its children, for --json.
type treeNode struct {
	api.Agent
	Children []*treeNode `json:"children,omitempty"`
}

// parentCycles returns the agents whose parent links lead back to
// themselves. The server never records such a loop; a damaged or forged
// inventory could, and printTree then shows each agent of the loop as a
// root instead of hiding them or walking the loop forever.
func parentCycles(nodes map[string]*treeNode) map[string]bool {
	const (
		onPath = 1
		done   = 2
	)
	state := map[string]int{}
	cyclic := map[string]bool{}
	for did := range nodes {
		var path []string
		for cur := nodes[did]; cur != nil && state[cur.DID] != done; {
			if state[cur.DID] == onPath {
				for i := len(path) - 1; i >= 0; i-- {
					cyclic[path[i]] = true
					if path[i] == cur.DID {
						break
					}
				}
				break
			}
			state[cur.DID] = onPath
			path = append(path, cur.DID)
			if cur.Parent == "" {
				break
			}
			cur = nodes[cur.Parent]
		}
		for _, d := range path {
			state[d] = done
		}
	}
	return cyclic
}

func printTree(w io.Writer, all []api.Agent, root, task string, asJSON bool) error {
	nodes := map[string]*treeNode{}
	for i := range all {
		nodes[all[i].DID] = &treeNode{Agent: all[i]}
	}
	cyclic := parentCycles(nodes)
	var roots []*treeNode
	for _, n := range nodes {
		if p, ok := nodes[n.Parent]; ok && n.Parent != "" && !cyclic[n.DID] {
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	byTime := func(ns []*treeNode) {
		sort.Slice(ns, func(i, j int) bool { return ns[i].CreatedAt.Before(ns[j].CreatedAt) })
	}
	var hasTask func(n *treeNode) bool
	hasTask = func(n *treeNode) bool {
		if n.Task == task {
			return true
		}
		for _, c := range n.Children {
			if hasTask(c) {
				return true
			}
		}
		return false
	}
	if root != "" {
		n, ok := nodes[root]
		if !ok {
			return fmt.Errorf("no agent %s in the inventory you can see", root)
		}
		roots = []*treeNode{n}
	}
	var keep []*treeNode
	for _, r := range roots {
		if task == "" || hasTask(r) {
			keep = append(keep, r)
		}
	}
	byTime(keep)
	if asJSON {
		if keep == nil {
			keep = []*treeNode{}
		}
		return printJSON(w, keep)
	}
	var walk func(n *treeNode, prefix string, last, top bool)
	walk = func(n *treeNode, prefix string, last, top bool) {
		branch, next := "", ""
		if !top {
			branch, next = "├── ", "│   "
			if last {
				branch, next = "└── ", "    "
			}
		}
		line := fmt.Sprintf("%s%s%s  %s  %s", prefix, branch, n.DID, n.Status, strings.Join(n.Scopes, ","))
		if n.Task != "" {
			line += "  task=" + n.Task
		}
		if n.Ancestor != "" {
			line += "  (through " + n.Ancestor + ")"
		}
		fmt.Fprintln(w, printable(line))
		byTime(n.Children)
		for i, c := range n.Children {
			walk(c, prefix+next, i == len(n.Children)-1, false)
		}
	}
	for _, r := range keep {
		walk(r, "", true, true)
	}
	return nil
}
