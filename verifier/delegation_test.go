package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

func statusEntry(purpose, index string) vc.StatusEntry {
	return vc.StatusEntry{Type: "BitstringStatusListEntry", StatusPurpose: purpose, StatusListIndex: index,
		StatusListCredential: "https://issuer.example.com/status/" + purpose + "/0"}
}

// TestDelegatedCredential checks the result's chain and that a refusal
// through an ancestor's agent-level entry names that ancestor, and only
// when the entries are laid out as agentid lays them out.
func TestDelegatedCredential(t *testing.T) {
	chain := []vc.DelegationLink{{Credential: "urn:uuid:r", Holder: "did:key:zRoot"}, {Credential: "urn:uuid:p", Holder: "did:key:zParent"}}
	layout := []vc.StatusEntry{statusEntry("revocation", "1"), statusEntry("suspension", "2"),
		statusEntry("revocation", "11"), statusEntry("suspension", "12"), // root
		statusEntry("revocation", "21"), statusEntry("suspension", "22")} // parent
	for _, tc := range []struct {
		name    string
		entries []vc.StatusEntry
		set     string
		code    reason.Code
		names   string
	}{
		{"valid", layout, "", "", ""},
		{"root revoked", layout, "11", reason.Revoked, "ancestor did:key:zRoot (delegation link 0"},
		{"parent suspended", layout, "22", reason.Suspended, "ancestor did:key:zParent (delegation link 1"},
		{"own revocation", layout, "1", reason.Revoked, ""},
		{"unexpected layout", layout[:5], "11", reason.Revoked, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			e := newEnv(t, WithAudit(audit.JSONLines(&log)))
			cred := e.credential(e.agent.DID, func(c *vc.Credential) {
				c.CredentialSubject.Delegation, c.CredentialSubject.DelegatedBy = chain, "did:key:zPrincipal"
				c.CredentialSubject.OnBehalfOf = "user:alice"
				c.CredentialStatus = tc.entries
			})
			if tc.set != "" {
				e.status.Set(tc.set, reason.New(tc.code, "credential is "+string(tc.code)))
			}
			r, err := e.v.Verify(context.Background(), e.present(e.agent, cred, nil), req("calendar:read"))
			// The decision's audit event carries the chain, allowed or not.
			var ev audit.Event
			if jerr := json.Unmarshal(log.Bytes(), &ev); jerr != nil || !slices.Equal(ev.Delegation,
				[]audit.Link{{Credential: "urn:uuid:r", Holder: "did:key:zRoot"}, {Credential: "urn:uuid:p", Holder: "did:key:zParent"}}) {
				t.Fatalf("audit event %s: %v", log.Bytes(), jerr)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(r.Delegation, chain) || r.DelegatedBy != "did:key:zPrincipal" || r.OnBehalfOf != "user:alice" {
					t.Fatalf("result %+v", r)
				}
				return
			}
			if c, _ := reason.CodeOf(err); c != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			re, _ := err.(*reason.Error)
			if tc.names != "" && (re == nil || !strings.Contains(re.Detail, tc.names)) {
				t.Fatalf("detail of %v does not name %q", err, tc.names)
			}
			if tc.names == "" && re != nil && strings.Contains(re.Detail, "ancestor") {
				t.Fatalf("detail %q names an ancestor", re.Detail)
			}
		})
	}
}
