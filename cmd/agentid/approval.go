package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

func approvalCmd() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "approval", Short: "List, show, approve, deny and watch requests that wait for approval"}
	cn.register(c)
	var status string
	ls := &cobra.Command{
		Use: "list", Short: "List approval requests (all for admins and approvers, your own otherwise)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var out []api.Approval
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.Approvals(c.Context(), status)
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				if out == nil {
					out = []api.Approval{}
				}
				return printJSON(c.OutOrStdout(), out)
			}
			var rows [][]string
			for _, a := range out {
				rows = append(rows, []string{a.ID, a.Status, a.Requester, a.Agent, strings.Join(a.NeedApproval, ","), ts(a.ExpiresAt)})
			}
			table(c.OutOrStdout(), "ID\tSTATUS\tREQUESTER\tAGENT\tNEEDS APPROVAL\tEXPIRES", rows)
			return nil
		},
	}
	ls.Flags().StringVar(&status, "status", "", "only requests with this status: pending, approved, denied, expired")
	show := &cobra.Command{
		Use: "show ID", Short: "Show one approval request", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var out *api.Approval
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.Approval(c.Context(), args[0], 0)
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out)
			}
			return printApproval(c.OutOrStdout(), out)
		},
	}
	var reason, agentCred string
	decide := func(verb string) *cobra.Command {
		d := &cobra.Command{
			Use: verb + " ID --reason TEXT", Short: strings.ToUpper(verb[:1]) + verb[1:] + " a pending request (admins and approvers; never your own)", Args: cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				if strings.TrimSpace(reason) == "" {
					return usagef("--reason is required (not blank)")
				}
				var out *api.Approval
				if err := cn.call(func(cl *client.Client) (err error) {
					if verb == "approve" {
						out, err = cl.Approve(c.Context(), args[0], reason)
					} else {
						out, err = cl.Deny(c.Context(), args[0], reason)
					}
					return err
				}); err != nil {
					return err
				}
				if cn.json {
					return printJSON(c.OutOrStdout(), out)
				}
				fmt.Fprintln(c.OutOrStdout(), printable(fmt.Sprintf("%s %s: %s", out.ID, out.Status, out.Agent)))
				return nil
			},
		}
		d.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit trail and, on approval, in the credential)")
		return d
	}
	watch := &cobra.Command{
		Use:   "watch [ID]",
		Short: "Wait for a request's decision and print its credential once approved; without ID, follow every request as it arrives",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cn.call(func(cl *client.Client) error {
					return cl.ApprovalEvents(c.Context(), func(ev string, a *api.Approval) error {
						if cn.json {
							return printJSON(c.OutOrStdout(), a)
						}
						fmt.Fprintln(c.OutOrStdout(), printable(fmt.Sprintf("%s %s requester=%s agent=%s needs=%s", ev, a.ID, a.Requester, a.Agent, strings.Join(a.NeedApproval, ","))))
						return nil
					})
				})
			}
			var out *api.Approval
			if err := cn.call(func(cl *client.Client) (err error) {
				if agentCred == "" {
					out, err = cl.WaitApproval(c.Context(), args[0])
					return err
				}
				// An agent that asked for a sub-agent polls as itself.
				b, err := os.ReadFile(agentCred)
				if err != nil {
					return err
				}
				for {
					out, err = cl.ApprovalAsAgent(c.Context(), cl.Key(), strings.TrimSpace(string(b)), args[0], 50*time.Second)
					if err != nil || out.Status != api.ApprovalPending || c.Context().Err() != nil {
						return err
					}
				}
			}); err != nil {
				return err
			}
			if cn.json {
				if err := printJSON(c.OutOrStdout(), out); err != nil {
					return err
				}
				if out.Status != api.ApprovalApproved {
					return deniedError{} // reported in the JSON
				}
				return nil
			}
			if out.Status != api.ApprovalApproved {
				return errors.New(approvalOutcome(out))
			}
			if out.Issued != nil {
				fmt.Fprintln(c.OutOrStdout(), out.Issued.Credential)
			}
			fmt.Fprintf(c.ErrOrStderr(), "agentid: %s\n", approvalOutcome(out))
			if out.Issued == nil {
				fmt.Fprintln(c.ErrOrStderr(), "agentid: the credential is the requester's to collect")
			}
			return nil
		},
	}
	watch.Flags().StringVar(&agentCred, "credential", "", "watch as the agent that asked for a sub-agent: its current credential (vc+jwt file); --key is then that agent's key")
	c.AddCommand(ls, show, decide("approve"), decide("deny"), watch)
	return c
}

// approvalOutcome is how 'approval watch ID' reports a request that is no
// longer pending, escaped for the terminal: "approved by DID: reason",
// "approval ID is denied by DID: reason", "approval ID is expired: not
// decided before TIME". The decider and the reason are left out when the
// answer has none (an expired request has neither).
func approvalOutcome(a *api.Approval) string {
	var s string
	switch a.Status {
	case api.ApprovalApproved:
		s = "approved"
	case api.ApprovalExpired:
		s = fmt.Sprintf("approval %s is expired: not decided before %s", a.ID, ts(a.ExpiresAt))
	default:
		s = fmt.Sprintf("approval %s is %s", a.ID, a.Status)
	}
	if a.DecidedBy != "" {
		s += " by " + a.DecidedBy
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return printable(s)
}
