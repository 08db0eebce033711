package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/store/pgstore"
)

// envDatabaseURL gives --store when the flag is absent.
const envDatabaseURL = "AGENTID_DATABASE_URL"

// storeURLOf returns the PostgreSQL URL of --store (or of
// AGENTID_DATABASE_URL), or "" for the bbolt file of the data directory.
func storeURLOf(flag string) (string, error) {
	u := flag
	if u == "" {
		u = os.Getenv(envDatabaseURL)
	}
	if u == "" {
		return "", nil
	}
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		return "", usagef("--store (or %s) must be a PostgreSQL URL, postgres://…", envDatabaseURL)
	}
	return u, nil
}

func migrateCmd() *cobra.Command {
	c := &cobra.Command{Use: "migrate", Short: "PostgreSQL schema migrations (applied by serve at start)"}
	var storeFlag string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show which schema migrations the database has applied",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			u, err := storeURLOf(storeFlag)
			if err != nil {
				return err
			}
			if u == "" {
				return usagef("--store (or %s) is required", envDatabaseURL)
			}
			ms, unknown, err := pgstore.Status(c.Context(), u)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tNAME\tAPPLIED")
			pending := 0
			for _, m := range ms {
				at := "pending"
				if m.Applied {
					at = m.AppliedAt.UTC().Format(time.RFC3339)
				} else {
					pending++
				}
				fmt.Fprintf(w, "%04d\t%s\t%s\n", m.Version, m.Name, at)
			}
			for _, v := range unknown {
				fmt.Fprintf(w, "%04d\t?\tapplied by a newer release\n", v)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(unknown) > 0 {
				return fmt.Errorf("the database has migrations this release does not know: upgrade agentid")
			}
			if pending > 0 {
				fmt.Fprintf(c.ErrOrStderr(), "agentid: %d migration(s) pending: agentid serve applies them at start\n", pending)
			}
			return nil
		},
	}
	status.Flags().StringVar(&storeFlag, "store", "", "PostgreSQL URL (default $"+envDatabaseURL+")")
	c.AddCommand(status)
	return c
}

func storeCmd() *cobra.Command {
	c := &cobra.Command{Use: "store", Short: "Move a deployment's store"}
	var from, to string
	cp := &cobra.Command{
		Use:   "copy",
		Short: "Copy a stopped data directory's bbolt database into an empty PostgreSQL database, and verify it",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" {
				return usagef("--from DIR is required")
			}
			u, err := storeURLOf(to)
			if err != nil {
				return err
			}
			if u == "" {
				return usagef("--to postgres://… (or %s) is required", envDatabaseURL)
			}
			rep, err := server.CopyStore(c.Context(), from, u)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "agentid: copied %d keys in %d buckets; every bucket compared equal; audit chain verified: %d events\n", rep.Keys, rep.Buckets, rep.AuditEvents)
			issuerURL := rep.IssuerURL
			if issuerURL == "" {
				issuerURL = "<the URL it was served with>"
			}
			fmt.Fprintf(c.ErrOrStderr(), "agentid: %s renamed %s; start with: agentid serve --data %s --store <url> --issuer-url %s\n", from+"/"+server.DBFile, rep.MovedTo, from, issuerURL)
			return nil
		},
	}
	cp.Flags().StringVar(&from, "from", "", "the data directory (agentid serve stopped)")
	cp.Flags().StringVar(&to, "to", "", "PostgreSQL URL of an empty database (default $"+envDatabaseURL+")")
	c.AddCommand(cp)
	return c
}
