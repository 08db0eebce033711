package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/vc"
)

// TestShowForPeople: `agent show` and `approval show` print lines for
// people, every value escaped, and the record as JSON with --json (they
// printed JSON always, and so passed a bidirectional override or a
// zero-width character in an owner, a purpose or a reason raw to the
// terminal: encoding/json escapes neither).
func TestShowForPeople(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ptr := func(t time.Time) *time.Time { return &t }
	const evil = "team\u202egnp.exe\u200b\x1b[2J\nforged: yes"
	const evilOut = `team\u202egnp.exe\u200b\x1b[2J\nforged: yes`

	full := &api.Agent{DID: "did:key:z6MkA", Owner: evil, Purpose: "summarise meetings", OnBehalfOf: "alice@example.com",
		Scopes: []string{"calendar:read", "calendar:write"}, Audiences: []string{"https://calendar.example.com"},
		Constraints: &vc.Constraints{SourceNetworks: []string{"10.0.0.0/8"}, RateLimit: "10/s",
			TimeWindow: &vc.TimeWindow{Start: "08:00", End: "18:00", TZ: "Europe/Paris"}},
		TTL: api.Duration(15 * time.Minute), CreatedBy: "did:key:z6MkO", CreatedAt: t0, RegistrationExpires: at(24 * time.Hour),
		CurrentCredential: "urn:uuid:c2", CredentialExpires: at(15 * time.Minute), Credentials: []string{"urn:uuid:c1", "urn:uuid:c2"},
		Retired: true, RetiredAt: ptr(at(time.Hour)), LastSeen: ptr(at(time.Minute)), Status: api.StatusRevoked, Ancestor: "did:key:z6MkRoot",
		Parent: "did:key:z6MkP", Depth: 1, MaxDepth: 2, Task: "job-7",
		Approval: &vc.Approval{ID: "urn:uuid:ap", Approver: "did:key:z6MkX", At: t0, Reason: "ticket\tCHG-42"}}
	bare := &api.Agent{DID: "did:key:z6MkB", Owner: "unspecified", Purpose: "unspecified", Scopes: []string{"mail:send"},
		Audiences: []string{"http://localhost:8080"}, TTL: api.Duration(15 * time.Minute), CreatedBy: "did:key:z6MkO", CreatedAt: t0,
		RegistrationExpires: at(24 * time.Hour), CurrentCredential: "urn:uuid:c3", CredentialExpires: at(15 * time.Minute),
		Credentials: []string{"urn:uuid:c3"}, Status: api.StatusActive}
	pending := &api.Approval{ID: "urn:uuid:p1", Requester: "did:key:z6MkO", Agent: "did:key:z6MkA",
		Scopes: []string{"calendar:read", "calendar:write"}, Audiences: []string{"https://calendar.example.com"},
		Owner: evil, Purpose: "p", NeedApproval: []string{"calendar:write"}, Status: api.ApprovalPending, CreatedAt: t0, ExpiresAt: at(15 * time.Minute)}
	approved := &api.Approval{ID: "urn:uuid:p2", Requester: "did:key:z6MkO", Agent: "did:key:z6MkA",
		Scopes: []string{"calendar:write"}, Audiences: []string{"https://calendar.example.com"}, Owner: "o", Purpose: "p", Task: "job-7",
		NeedApproval: []string{"calendar:write"}, Status: api.ApprovalApproved, CreatedAt: t0, ExpiresAt: at(15 * time.Minute),
		DecidedBy: "did:key:z6MkX", DecidedAt: ptr(at(time.Minute)), Reason: "\u2066ok\u2069",
		Issued: &api.Issued{ID: "urn:uuid:c9", Credential: "aaa.bbb.ccc", ValidUntil: at(16 * time.Minute)}}
	url := fakeServer(t, map[string]any{"/v1/agents/" + full.DID: full, "/v1/agents/" + bare.DID: bare,
		"/v1/approvals/" + pending.ID: pending, "/v1/approvals/" + approved.ID: approved})
	key := testKey(t)

	for _, tc := range []struct {
		args []string
		v    any
		want string
	}{
		{[]string{"agent", "show", full.DID}, full, `did:              did:key:z6MkA
status:           revoked (through did:key:z6MkRoot)
owner:            ` + evilOut + `
purpose:          summarise meetings
on behalf of:     alice@example.com
task:             job-7
scopes:           calendar:read,calendar:write
audiences:        https://calendar.example.com
credential ttl:   15m0s
source networks:  10.0.0.0/8
rate limit:       10/s
time window:      08:00-18:00 Europe/Paris
created:          2026-01-02T03:04:05Z by did:key:z6MkO
registered until: 2026-01-03T03:04:05Z
credential:       urn:uuid:c2, expires 2026-01-02T03:19:05Z
credentials:      2
last seen:        2026-01-02T03:05:05Z
retired:          2026-01-02T04:04:05Z
parent:           did:key:z6MkP
depth:            1 of at most 2
approval:         urn:uuid:ap by did:key:z6MkX at 2026-01-02T03:04:05Z: ticket\tCHG-42
`},
		{[]string{"agent", "show", bare.DID}, bare, `did:              did:key:z6MkB
status:           active
owner:            unspecified
purpose:          unspecified
scopes:           mail:send
audiences:        http://localhost:8080
credential ttl:   15m0s
created:          2026-01-02T03:04:05Z by did:key:z6MkO
registered until: 2026-01-03T03:04:05Z
credential:       urn:uuid:c3, expires 2026-01-02T03:19:05Z
credentials:      1
last seen:        -
`},
		{[]string{"approval", "show", pending.ID}, pending, `id:             urn:uuid:p1
status:         pending
requester:      did:key:z6MkO
agent:          did:key:z6MkA
scopes:         calendar:read,calendar:write
needs approval: calendar:write
audiences:      https://calendar.example.com
owner:          ` + evilOut + `
purpose:        p
created:        2026-01-02T03:04:05Z
expires:        2026-01-02T03:19:05Z
`},
		{[]string{"approval", "show", approved.ID}, approved, `id:             urn:uuid:p2
status:         approved
requester:      did:key:z6MkO
agent:          did:key:z6MkA
scopes:         calendar:write
needs approval: calendar:write
audiences:      https://calendar.example.com
owner:          o
purpose:        p
task:           job-7
created:        2026-01-02T03:04:05Z
expires:        2026-01-02T03:19:05Z
decided:        2026-01-02T03:05:05Z by did:key:z6MkX
reason:         \u2066ok\u2069
credential:     urn:uuid:c9, valid until 2026-01-02T03:20:05Z
`},
	} {
		t.Run(strings.Join(tc.args[:2], " ")+" "+tc.args[2], func(t *testing.T) {
			args := append(tc.args, "--server", url, "--key", key)
			code, out, errOut := agentid(t, "", args...)
			if code != 0 || out != tc.want || errOut != "" {
				t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errOut, out, tc.want)
			}
			code, out, _ = agentid(t, "", append(args, "--json")...)
			got := reflect.New(reflect.TypeOf(tc.v).Elem()).Interface()
			if err := json.Unmarshal([]byte(out), got); code != 0 || err != nil || !reflect.DeepEqual(got, tc.v) {
				t.Errorf("--json: exit %d, %v, got %+v, want %+v", code, err, got, tc.v)
			}
		})
	}
}
