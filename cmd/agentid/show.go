package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentid/agentid/api"
)

// field is one "label: value" line of a record shown for people.
type field struct{ label, value string }

// printFields writes fields as "label: value" lines, the values aligned
// and escaped with printable (they are other principals' and agents'
// choices: an owner, a purpose, a reason). A field whose value is empty
// is left out.
func printFields(w io.Writer, fs []field) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, f := range fs {
		if f.value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", f.label, printable(f.value))
		}
	}
	return tw.Flush()
}

// printAgent prints an inventory record for people ('agent show'); the
// whole record, with every credential id and the delegation chain, is in
// its --json.
func printAgent(w io.Writer, a *api.Agent) error {
	status := a.Status
	if a.Ancestor != "" {
		status += " (through " + a.Ancestor + ")"
	}
	fs := []field{
		{"did", a.DID},
		{"status", status},
		{"owner", a.Owner},
		{"purpose", a.Purpose},
		{"on behalf of", a.OnBehalfOf},
		{"task", a.Task},
		{"scopes", strings.Join(a.Scopes, ",")},
		{"audiences", strings.Join(a.Audiences, ",")},
	}
	if a.TTL != 0 {
		fs = append(fs, field{"credential ttl", time.Duration(a.TTL).String()})
	}
	if c := a.Constraints; c != nil {
		fs = append(fs, field{"source networks", strings.Join(c.SourceNetworks, ",")}, field{"rate limit", c.RateLimit})
		if tw := c.TimeWindow; tw != nil {
			fs = append(fs, field{"time window", strings.TrimSpace(tw.Start + "-" + tw.End + " " + tw.TZ)})
		}
	}
	created := ts(a.CreatedAt)
	if a.CreatedBy != "" {
		created += " by " + a.CreatedBy
	}
	fs = append(fs, field{"created", created}, field{"registered until", ts(a.RegistrationExpires)})
	if a.CurrentCredential != "" {
		fs = append(fs, field{"credential", a.CurrentCredential + ", expires " + ts(a.CredentialExpires)})
	}
	fs = append(fs, field{"credentials", fmt.Sprint(len(a.Credentials))})
	seen := "-"
	if a.LastSeen != nil {
		seen = ts(*a.LastSeen)
	}
	fs = append(fs, field{"last seen", seen})
	switch {
	case a.RetiredAt != nil:
		fs = append(fs, field{"retired", ts(*a.RetiredAt)})
	case a.Retired:
		fs = append(fs, field{"retired", "yes"})
	}
	fs = append(fs, field{"parent", a.Parent})
	if a.Depth > 0 || a.MaxDepth > 0 {
		fs = append(fs, field{"depth", fmt.Sprintf("%d of at most %d", a.Depth, a.MaxDepth)})
	}
	if ap := a.Approval; ap != nil {
		v := ap.ID + " by " + ap.Approver + " at " + ts(ap.At)
		if ap.Reason != "" {
			v += ": " + ap.Reason
		}
		fs = append(fs, field{"approval", v})
	}
	return printFields(w, fs)
}

// printApproval prints an approval request for people ('approval show');
// the credential of an approved request, for its requester, is in its
// --json (and 'approval watch' prints it).
func printApproval(w io.Writer, a *api.Approval) error {
	fs := []field{
		{"id", a.ID},
		{"status", a.Status},
		{"requester", a.Requester},
		{"agent", a.Agent},
		{"scopes", strings.Join(a.Scopes, ",")},
		{"needs approval", strings.Join(a.NeedApproval, ",")},
		{"audiences", strings.Join(a.Audiences, ",")},
		{"owner", a.Owner},
		{"purpose", a.Purpose},
		{"task", a.Task},
		{"created", ts(a.CreatedAt)},
		{"expires", ts(a.ExpiresAt)},
	}
	if a.DecidedAt != nil || a.DecidedBy != "" {
		decided := "-"
		if a.DecidedAt != nil {
			decided = ts(*a.DecidedAt)
		}
		if a.DecidedBy != "" {
			decided += " by " + a.DecidedBy
		}
		fs = append(fs, field{"decided", decided})
	}
	fs = append(fs, field{"reason", a.Reason})
	if is := a.Issued; is != nil {
		fs = append(fs, field{"credential", is.ID + ", valid until " + ts(is.ValidUntil)})
	}
	return printFields(w, fs)
}
