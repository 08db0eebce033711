package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/server"
)

// conn holds the flags every client command shares.
type conn struct {
	server, key string
	json        bool
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (cn *conn) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&cn.server, "server", envOr("AGENTID_SERVER", "http://localhost:8080"), "agentid server URL ($AGENTID_SERVER)")
	c.PersistentFlags().StringVar(&cn.key, "key", envOr("AGENTID_KEY", filepath.Join("data", server.AdminKeyFile)), "your principal key (JWK file) ($AGENTID_KEY)")
	c.PersistentFlags().BoolVar(&cn.json, "json", false, "print JSON for programs instead of a table")
}

func (cn *conn) client() (*client.Client, error) {
	k, err := client.LoadKey(cn.key)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, hintError{err, []string{"pass --key FILE (the admin key is DATA/admin.jwk after 'agentid init')"}}
		}
		return nil, err
	}
	return client.New(cn.server, k), nil
}

// call runs one request with the principal's client, explaining a failure.
func (cn *conn) call(f func(*client.Client) error) error {
	cl, err := cn.client()
	if err != nil {
		return err
	}
	return cn.explain(f(cl))
}

func (cn *conn) explain(err error) error {
	var p *client.Error
	if errors.As(err, &p) && p.Code == api.CodeUnknownPrincipal {
		return hintError{err, []string{"this key is not registered with the server; ask an admin to run 'agentid principal add'"}}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return hintError{err, []string{"is 'agentid serve' running at " + cn.server + "?"}}
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(printables(r), "\t"))
	}
	tw.Flush()
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func principalCmd() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "principal", Short: "Register admins, orchestrators and resource servers (admin)"}
	cn.register(c)
	var role, name string
	var ceiling, auds []string
	var maxTTL time.Duration
	var maxDepth int
	var needApproval []string
	var approver bool
	add := &cobra.Command{
		Use:   "add DID",
		Short: "Register a principal with its role, scope ceiling and maximum credential lifetime",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p := api.Principal{DID: args[0], Role: api.Role(role), Name: name, Ceiling: ceiling, Audiences: auds, MaxTTL: api.Duration(maxTTL),
				MaxDepth: maxDepth, NeedApproval: needApproval, Approver: approver}
			var out *api.Principal
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.AddPrincipal(c.Context(), p)
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out)
			}
			fmt.Fprintf(c.OutOrStdout(), "registered %s %s\n", printable(string(out.Role)), printable(out.DID))
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "orchestrator", "admin, orchestrator, approver (decides approval requests only) or resource (may introspect OAuth tokens)")
	add.Flags().StringVar(&name, "name", "", "a name for people")
	add.Flags().StringSliceVar(&ceiling, "scopes", nil, "scope ceiling: exact scopes or resource:* (comma separated)")
	add.Flags().StringSliceVar(&auds, "audiences", nil, "audiences it may grant (default any)")
	add.Flags().DurationVar(&maxTTL, "max-ttl", 0, "longest credential lifetime it may ask (default the issuer's)")
	add.Flags().IntVar(&maxDepth, "max-depth", 0, "how deep its agents may delegate to sub-agents, 0 to 8 (default 0: not at all)")
	add.Flags().StringSliceVar(&needApproval, "need-approval", nil, "scopes (or resource:*) whose grant waits for an approver")
	add.Flags().BoolVar(&approver, "approver", false, "may approve or deny others' pending requests")
	rm := &cobra.Command{
		Use: "remove DID", Short: "Unregister a principal", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := cn.call(func(cl *client.Client) error { return cl.RemovePrincipal(c.Context(), args[0]) }); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "removed %s\n", args[0])
			return nil
		},
	}
	ls := &cobra.Command{
		Use: "list", Short: "List principals", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var out api.PrincipalList
			if err := cn.call(func(cl *client.Client) (err error) {
				out.Principals, err = cl.Principals(c.Context())
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out.Principals)
			}
			var rows [][]string
			for _, p := range out.Principals {
				maxTTL := "-" // the issuer's
				if p.MaxTTL != 0 {
					maxTTL = time.Duration(p.MaxTTL).String()
				}
				rows = append(rows, []string{p.DID, string(p.Role), strings.Join(p.Ceiling, ","), maxTTL, ts(p.CreatedAt)})
			}
			table(c.OutOrStdout(), "DID\tROLE\tCEILING\tMAX TTL\tCREATED", rows)
			return nil
		},
	}
	c.AddCommand(add, rm, ls)
	return c
}

func agentCmd() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "agent", Short: "Register agents, list the inventory, retire agents"}
	cn.register(c)
	var subjectKey, owner, purpose, onBehalf, parentCred, task string
	var scopes, auds []string
	var ttl, lifetime time.Duration
	var maxDepth int
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Register an agent and print its credential (vc+jwt)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if subjectKey == "" || len(scopes) == 0 {
				return usagef("--subject-key and --scopes are required")
			}
			agent, err := client.LoadKey(subjectKey)
			if err != nil {
				return err
			}
			cl, err := cn.client()
			if err != nil {
				return err
			}
			var parent string // with --credential, --key is the parent agent's
			if parentCred != "" {
				b, err := os.ReadFile(parentCred)
				if err != nil {
					return err
				}
				parent = strings.TrimSpace(string(b))
			}
			proof, err := cl.Proof(c.Context(), agent)
			if err != nil {
				return cn.explain(err)
			}
			if len(auds) == 0 {
				auds = []string{cl.Server()}
				fmt.Fprintf(c.ErrOrStderr(), "agentid: no --audience given; the credential is for %s\n", cl.Server())
			}
			if owner == "" {
				owner = "unspecified"
			}
			if purpose == "" {
				purpose = "unspecified"
			}
			req := api.IssueRequest{Agent: agent.DID, Proof: proof, Scopes: scopes, Audiences: auds, TTL: api.Duration(ttl),
				Lifetime: api.Duration(lifetime), Owner: owner, Purpose: purpose, OnBehalfOf: onBehalf, Task: task, MaxDepth: maxDepth}
			var out *api.Issued
			if parent != "" {
				if !c.Flags().Changed("ttl") {
					req.TTL = 0 // the issuer's default within the parent's
				}
				out, err = cl.IssueSubAgent(c.Context(), cl.Key(), parent, req)
			} else {
				out, err = cl.Issue(c.Context(), req)
			}
			if err := cn.explain(err); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out)
			}
			if out.Approval != "" {
				id := printable(out.Approval)
				fmt.Fprintln(c.OutOrStdout(), id)
				fmt.Fprintf(c.ErrOrStderr(), "agentid: the request waits for approval %s; 'agentid approval watch %s' prints the credential once approved\n", id, id)
				return nil
			}
			fmt.Fprintln(c.OutOrStdout(), out.Credential)
			fmt.Fprintf(c.ErrOrStderr(), "agentid: credential %s for %s, valid until %s\n", printable(out.ID), agent.DID, ts(out.ValidUntil))
			return nil
		},
	}
	issue.Flags().StringVar(&subjectKey, "subject-key", "", "the agent's private key (JWK file), to prove control of its DID")
	issue.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes to grant, resource:action (comma separated)")
	issue.Flags().StringSliceVar(&auds, "audience", nil, "resource API URL(s) the credential is for (default the server)")
	issue.Flags().DurationVar(&ttl, "ttl", 15*time.Minute, "credential lifetime")
	issue.Flags().DurationVar(&lifetime, "lifetime", 0, "registration lifetime: how long the agent may refresh (default 24h)")
	issue.Flags().StringVar(&owner, "owner", "", "owning team or person")
	issue.Flags().StringVar(&purpose, "purpose", "", "what the agent is for")
	issue.Flags().StringVar(&onBehalf, "on-behalf-of", "", "the user the agent acts for")
	issue.Flags().StringVar(&parentCred, "credential", "", "ask as an agent: its current credential (vc+jwt file); --key is then that agent's key")
	issue.Flags().StringVar(&task, "task", "", "the job the agent works for")
	issue.Flags().IntVar(&maxDepth, "max-depth", 0, "how deep the new agent's tree may delegate (default the principal's)")

	var dormant, status string
	var expired bool
	ls := &cobra.Command{
		Use: "list", Short: "List the agent inventory", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// Rows are written page by page as they arrive, so that memory
			// stays flat however large the inventory: the JSON array is
			// written element by element, the table aligned per page.
			w := c.OutOrStdout()
			n := 0
			var tw *tabwriter.Writer
			flush := func() {
				if tw != nil {
					tw.Flush()
				}
			}
			err := cn.call(func(cl *client.Client) error {
				return cl.EachAgent(c.Context(), client.AgentFilter{Status: status, Dormant: dormant, Expired: expired}, func(a *api.Agent) error {
					n++
					if cn.json {
						b, err := json.MarshalIndent(a, "  ", "  ")
						if err != nil {
							return err
						}
						sep := ",\n  "
						if n == 1 {
							sep = "[\n  "
						}
						_, err = fmt.Fprintf(w, "%s%s", sep, b)
						return err
					}
					if tw == nil {
						tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "DID\tSTATUS\tOWNER\tSCOPES\tCREATED BY\tCREATED\tCREDENTIAL\tEXPIRES\tLAST SEEN")
					}
					seen := "-"
					if a.LastSeen != nil {
						seen = ts(*a.LastSeen)
					}
					fmt.Fprintln(tw, strings.Join(printables([]string{a.DID, a.Status, a.Owner, strings.Join(a.Scopes, ","), a.CreatedBy, ts(a.CreatedAt), a.CurrentCredential, ts(a.CredentialExpires), seen}), "\t"))
					if n%500 == 0 { // a page's worth
						flush()
					}
					return nil
				})
			})
			flush()
			if err != nil {
				return err
			}
			switch {
			case cn.json && n == 0:
				fmt.Fprintln(w, "[]")
			case cn.json:
				fmt.Fprintln(w, "\n]")
			case n == 0:
				table(w, "DID\tSTATUS\tOWNER\tSCOPES\tCREATED BY\tCREATED\tCREDENTIAL\tEXPIRES\tLAST SEEN", nil)
			}
			return nil
		},
	}
	ls.Flags().StringVar(&dormant, "dormant", "", "only agents unused for this long (true = 7 days, or a duration)")
	ls.Flags().BoolVar(&expired, "expired", false, "only agents whose credential expired and that are not retired")
	ls.Flags().StringVar(&status, "status", "", "only agents with this status: active, suspended, revoked, expired, retired")
	var retireTree, retireTask string
	retire := &cobra.Command{
		Use: "retire DID | --tree DID | --task ID", Short: "Revoke every credential of an agent (its subtree, its job) and refuse it new ones", Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if n := len(args) + btoi(retireTree != "") + btoi(retireTask != ""); n != 1 {
				return usagef("give one of DID, --tree DID or --task ID")
			}
			if retireTree != "" || retireTask != "" {
				return retireGroup(c, &cn, retireTree, retireTask)
			}
			var out *api.Agent
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.Retire(c.Context(), args[0])
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out)
			}
			fmt.Fprintf(c.OutOrStdout(), "retired %s (%d credentials revoked)\n", printable(out.DID), len(out.Credentials))
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show DID", Short: "Show one agent", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var out *api.Agent
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.Agent(c.Context(), args[0])
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out)
			}
			return printAgent(c.OutOrStdout(), out)
		},
	}
	retire.Flags().StringVar(&retireTree, "tree", "", "retire this agent and all its descendants")
	retire.Flags().StringVar(&retireTask, "task", "", "retire every agent of this job")
	c.AddCommand(issue, ls, retire, show, treeCmd(&cn))
	return c
}

func credentialCmd() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "credential", Short: "Revoke, suspend, reinstate or refresh credentials"}
	cn.register(c)
	for _, a := range []api.StatusAction{api.Revoke, api.Suspend, api.Reinstate} {
		c.AddCommand(&cobra.Command{
			Use: string(a) + " ID", Short: strings.ToUpper(string(a[:1])) + string(a[1:]) + " a credential", Args: cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				var out *api.Credential
				if err := cn.call(func(cl *client.Client) (err error) {
					out, err = cl.SetStatus(c.Context(), args[0], a)
					return err
				}); err != nil {
					return err
				}
				if cn.json {
					return printJSON(c.OutOrStdout(), out)
				}
				fmt.Fprintf(c.OutOrStdout(), "%s: revoked=%v suspended=%v\n", printable(out.ID), out.Revoked, out.Suspended)
				return nil
			},
		})
	}
	var credFile string
	refresh := &cobra.Command{
		Use: "refresh", Short: "Present the agent's current credential (--key is the agent's key) and print a new one", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if credFile == "" {
				return usagef("--credential FILE is required")
			}
			cl, err := cn.client()
			if err != nil {
				return err
			}
			cred, err := readFileArg(c.InOrStdin(), credFile)
			if err != nil {
				return err
			}
			out, err := cl.Refresh(c.Context(), cl.Key(), cred)
			if err := cn.explain(err); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out)
			}
			fmt.Fprintln(c.OutOrStdout(), out.Credential)
			return nil
		},
	}
	refresh.Flags().StringVar(&credFile, "credential", "", "current credential (vc+jwt file, or -)")
	c.AddCommand(refresh)
	return c
}

func keysCmd() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "keys", Short: "The issuer's signing keys"}
	cn.register(c)
	show := func(c *cobra.Command, ks []api.KeyInfo) error {
		if cn.json {
			return printJSON(c.OutOrStdout(), ks)
		}
		var rows [][]string
		for _, k := range ks {
			rows = append(rows, []string{k.KID, k.Alg, fmt.Sprint(k.Primary), ts(k.Created)})
		}
		table(c.OutOrStdout(), "KID\tALG\tPRIMARY\tCREATED", rows)
		return nil
	}
	c.AddCommand(&cobra.Command{
		Use: "list", Short: "List the issuer's keys", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var out []api.KeyInfo
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.Keys(c.Context())
				return err
			}); err != nil {
				return err
			}
			return show(c, out)
		},
	}, &cobra.Command{
		Use: "rotate", Short: "Make a new primary signing key (old keys keep verifying)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var out *api.KeyInfo
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.RotateKey(c.Context())
				return err
			}); err != nil {
				return err
			}
			return show(c, []api.KeyInfo{*out})
		},
	})
	return c
}

func auditCmd() *cobra.Command {
	var cn conn
	c := &cobra.Command{Use: "audit", Short: "Read, export and check the audit trail (admin)"}
	cn.register(c)
	var agentF, actor, action, decision, since, until string
	var tailLimit int
	filter := func(fc *cobra.Command) {
		fc.Flags().StringVar(&agentF, "agent", "", "agent DID")
		fc.Flags().StringVar(&actor, "actor", "", "actor DID")
		fc.Flags().StringVar(&action, "action", "", "action, such as agent.issue or verify")
		fc.Flags().StringVar(&decision, "decision", "", "allow or deny")
		fc.Flags().StringVar(&since, "since", "", "RFC 3339 time or a duration back from now (24h)")
		fc.Flags().StringVar(&until, "until", "", "RFC 3339 time or a duration back from now")
	}
	// tail's --limit is its own: export streams every matching event.
	query := func(limit int) client.AuditFilter {
		return client.AuditFilter{Agent: agentF, Actor: actor, Action: action, Decision: decision, Since: since, Until: until, Limit: limit}
	}
	tail := &cobra.Command{
		Use: "tail", Short: "Show the latest matching audit events, oldest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if tailLimit < 1 {
				return usagef("--limit must be at least 1")
			}
			var out api.EventList
			if err := cn.call(func(cl *client.Client) (err error) {
				out.Events, err = cl.AuditTail(c.Context(), query(0), tailLimit)
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out.Events)
			}
			var rows [][]string
			for _, e := range out.Events {
				rows = append(rows, []string{fmt.Sprint(e.Seq), ts(e.Time), e.Action, e.Decision, e.Reason, e.Actor, e.Subject, e.Credential})
			}
			table(c.OutOrStdout(), "SEQ\tTIME\tACTION\tDECISION\tREASON\tACTOR\tSUBJECT\tCREDENTIAL", rows)
			return nil
		},
	}
	filter(tail)
	tail.Flags().IntVar(&tailLimit, "limit", 100, "this many of the latest matching events at most")
	export := &cobra.Command{
		Use: "export", Short: "Export every matching audit event as JSON lines", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return cn.call(func(cl *client.Client) error { return cl.AuditExport(c.Context(), query(0), c.OutOrStdout()) })
		},
	}
	filter(export)
	var sumSince string
	summary := &cobra.Command{
		Use: "summary", Short: "Per-agent activity and anomalies, riskiest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var out *audit.Summary
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.AuditSummary(c.Context(), sumSince)
				return err
			}); err != nil {
				return err
			}
			return printSummary(c, out, cn.json)
		},
	}
	summary.Flags().StringVar(&sumSince, "since", "24h", "window: a duration back from now")
	var file, headFile, segDir string
	head := &cobra.Command{
		Use: "head", Short: "Print the audit chain head, signed now by the issuer key (keep it elsewhere)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var out *api.SignedHead
			if err := cn.call(func(cl *client.Client) (err error) {
				out, err = cl.AuditHead(c.Context())
				return err
			}); err != nil {
				return err
			}
			if cn.json {
				return printJSON(c.OutOrStdout(), out)
			}
			_, err := fmt.Fprintln(c.OutOrStdout(), out.Token)
			return err
		},
	}
	verify := &cobra.Command{
		Use: "verify", Short: "Check the hash chain (of the server's log, or of an exported --file), optionally against a saved --head", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var rep *audit.VerifyReport
			if segDir != "" {
				var err error
				if rep, err = verifySegments(c, segDir, file); err != nil {
					if rep == nil || rep.OK() {
						return err
					}
					if perr := printVerifyReport(c.OutOrStdout(), rep, cn.json); perr != nil {
						return perr
					}
					return err
				}
			} else if headFile != "" {
				var err error
				if rep, err = verifyAgainstHead(c, &cn, file, headFile); err != nil {
					if rep == nil || rep.OK() {
						return err
					}
					if perr := printVerifyReport(c.OutOrStdout(), rep, cn.json); perr != nil {
						return perr
					}
					return err
				}
			} else if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				if rep, err = audit.VerifyLines(f); err != nil {
					if rep == nil || rep.OK() {
						return err
					}
					// A broken chain: the report names every break.
					if perr := printVerifyReport(c.OutOrStdout(), rep, cn.json); perr != nil {
						return perr
					}
					return err
				}
			} else {
				if err := cn.call(func(cl *client.Client) (err error) {
					rep, err = cl.AuditVerify(c.Context())
					return err
				}); err != nil {
					return err
				}
			}
			if err := printVerifyReport(c.OutOrStdout(), rep, cn.json); err != nil {
				return err
			}
			if !rep.OK() {
				return deniedError{}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&file, "file", "", "an exported JSON-lines file to check offline")
	verify.Flags().StringVar(&segDir, "segments", "", "an audit archive directory (DATA/audit-segments, or a copy) to check offline with its signed heads; with --file, the export of the log after it")
	verify.Flags().StringVar(&headFile, "head", "", "a signed head saved by 'agentid audit head': the log must reach it and agree with it")
	c.AddCommand(tail, export, summary, head, verify)
	return c
}

// printVerifyReport prints an audit chain check: the report as JSON for
// programs, or lines for people (each break on its own line).
func printVerifyReport(w io.Writer, rep *audit.VerifyReport, asJSON bool) error {
	if asJSON {
		return printJSON(w, rep)
	}
	verdict := "intact"
	if !rep.OK() {
		verdict = fmt.Sprintf("BROKEN (%d breaks)", len(rep.Errors))
	}
	fmt.Fprintf(w, "chain:     %s\n", verdict)
	fmt.Fprintf(w, "events:    %d (seq %d to %d)\n", rep.Events, rep.FirstSeq, rep.LastSeq)
	fmt.Fprintf(w, "head:      %s\n", printable(rep.Head))
	if rep.Keyed > 0 || rep.Unchecked > 0 {
		fmt.Fprintf(w, "keyed:     %d (MAC not checked without the chain key: %d)\n", rep.Keyed, rep.Unchecked)
	}
	if h := rep.SignedHead; h != nil {
		fmt.Fprintf(w, "signed head: seq %d, %s, %s\n", h.Seq, h.Time.UTC().Format(time.RFC3339), printable(h.Hash))
	}
	for _, e := range rep.Errors {
		fmt.Fprintln(w, printable(e.Error())) // a break's detail quotes the record
	}
	if rep.Truncated {
		fmt.Fprintf(w, "more breaks than the %d shown\n", audit.MaxChainErrors)
	}
	return nil
}

func printSummary(c *cobra.Command, s *audit.Summary, asJSON bool) error {
	if asJSON {
		return printJSON(c.OutOrStdout(), s)
	}
	w := c.OutOrStdout()
	fmt.Fprintf(w, "window %s .. %s, %d events\n\n", ts(s.Since), ts(s.Until), s.Events)
	var rows [][]string
	for _, a := range s.Agents {
		var reasons []string
		for r, n := range a.DenialsByReason {
			reasons = append(reasons, fmt.Sprintf("%s=%d", r, n))
		}
		spike := "-"
		if a.RateSpike {
			spike = fmt.Sprintf("%d/min vs %.1f", a.PeakPerMinute, a.BaselinePerMinute)
		}
		rows = append(rows, []string{a.Agent, fmt.Sprint(a.Risk), fmt.Sprint(a.Requests), fmt.Sprint(a.Denials),
			strings.Join(reasons, ","), fmt.Sprint(a.RevokedUses), fmt.Sprint(a.ScopeEscalations),
			strings.Join(a.NewResources, ","), spike})
	}
	table(w, "AGENT\tRISK\tREQUESTS\tDENIALS\tBY REASON\tDEAD-CREDENTIAL USES\tBEYOND GRANT\tNEW RESOURCES\tRATE SPIKE", rows)
	if len(s.DormantAgents) > 0 {
		fmt.Fprintln(w, "\ndormant agents:")
		for _, a := range s.DormantAgents {
			fmt.Fprintf(w, "  %s (last seen %s)\n", printable(a.DID), ts(a.LastSeen))
		}
	}
	if len(s.ExpiredNotRetired) > 0 {
		fmt.Fprintln(w, "\nexpired but not retired:")
		for _, a := range s.ExpiredNotRetired {
			fmt.Fprintf(w, "  %s (expired %s)\n", printable(a.DID), ts(a.ExpiresAt))
		}
	}
	return nil
}
