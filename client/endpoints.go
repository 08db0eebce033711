package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/audit"
)

// Nonce fetches a proof-of-control nonce (GET /v1/nonce, public).
func (c *Client) Nonce(ctx context.Context) (string, error) {
	var r api.NonceResponse
	if err := c.do(ctx, nil, "", http.MethodGet, "/v1/nonce", nil, &r); err != nil {
		return "", err
	}
	if r.Nonce == "" {
		return "", errors.New("server returned no nonce")
	}
	return r.Nonce, nil
}

// Proof signs a proof of control by agent over a fresh issuer nonce, for
// [api.IssueRequest.Proof], made for the client's principal (its "for"
// claim names the client key's DID): the issuer refuses it from any other
// principal. The client needs its principal key.
func (c *Client) Proof(ctx context.Context, agent *Key) (string, error) {
	if c.key == nil {
		return "", errNoKey
	}
	return c.ProofFor(ctx, agent, c.key.DID)
}

// ProofFor signs a proof of control by agent over a fresh issuer nonce for
// the principal whose DID is given (when another process holds the
// principal's key).
func (c *Client) ProofFor(ctx context.Context, agent *Key, principal string) (string, error) {
	if principal == "" {
		return "", errors.New("client: a proof of control names its principal")
	}
	n, err := c.Nonce(ctx)
	if err != nil {
		return "", err
	}
	return agent.Present(PresentOptions{Audience: c.server, Nonce: n, For: principal})
}

// Issue registers an agent and returns its first credential
// (POST /v1/agents).
func (c *Client) Issue(ctx context.Context, req api.IssueRequest) (*api.Issued, error) {
	out := new(api.Issued)
	if err := c.authed(ctx, http.MethodPost, "/v1/agents", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Refresh presents the agent's current credential, signed by the agent's
// own key, and returns a new one (POST /v1/credentials/refresh). The
// client's principal key is not used.
func (c *Client) Refresh(ctx context.Context, agent *Key, credential string) (*api.Issued, error) {
	if agent == nil {
		return nil, errors.New("client: Refresh needs the agent's key")
	}
	out := new(api.Issued)
	if err := c.do(ctx, agent, credential, http.MethodPost, "/v1/credentials/refresh", nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// AgentFilter selects agents in [Client.Agents]; the zero value selects
// every agent the principal may see.
type AgentFilter struct {
	// Status is one of the api.Status* constants, or empty for any.
	Status string
	// Dormant selects agents unused for a while: "true" (7 days) or a
	// duration such as "72h"; empty for no such filter.
	Dormant string
	// Expired selects agents whose credential expired and that are not
	// retired.
	Expired bool
	// PageSize is the number of agents Agents and EachAgent ask for per
	// request: the server's default (500) when 0, at most 5,000.
	PageSize int
}

func (f AgentFilter) values() url.Values {
	q := url.Values{}
	if f.Dormant != "" {
		q.Set("dormant", f.Dormant)
	}
	if f.Expired {
		q.Set("expired", "true")
	}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	return q
}

// Agents lists the agent inventory (GET /v1/agents): every agent for an
// admin, the agents it created for an orchestrator, in the order of their
// DIDs. It follows the pages and holds them all: for a large inventory use
// EachAgent, which holds one page at a time.
func (c *Client) Agents(ctx context.Context, f AgentFilter) ([]api.Agent, error) {
	var out []api.Agent
	err := c.EachAgent(ctx, f, func(a *api.Agent) error {
		out = append(out, *a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachAgent calls fn with each agent of the inventory, page by page
// (GET /v1/agents?cursor=…, following next), until the last page or
// until fn returns an error, which EachAgent returns.
func (c *Client) EachAgent(ctx context.Context, f AgentFilter, fn func(*api.Agent) error) error {
	cursor := ""
	for {
		page, err := c.AgentPage(ctx, f, cursor, f.PageSize)
		if err != nil {
			return err
		}
		for i := range page.Agents {
			if err := fn(&page.Agents[i]); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		if page.Next <= cursor {
			return fmt.Errorf("client: agent list: the server's next cursor %q does not advance", page.Next)
		}
		cursor = page.Next
	}
}

// AgentPage fetches one page of the inventory: at most limit agents (the
// server's default, 500, when 0; at most 5,000) whose DID sorts after
// cursor ("" for the first page). The answer's Next is the cursor of the
// following page, "" on the last.
func (c *Client) AgentPage(ctx context.Context, f AgentFilter, cursor string, limit int) (*api.AgentList, error) {
	q := f.values()
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/agents"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	out := new(api.AgentList)
	if err := c.authed(ctx, http.MethodGet, path, nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Agent returns one agent's inventory record (GET /v1/agents/{did}).
func (c *Client) Agent(ctx context.Context, agentDID string) (*api.Agent, error) {
	out := new(api.Agent)
	if err := c.authed(ctx, http.MethodGet, "/v1/agents/"+url.PathEscape(agentDID), nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Retire revokes every credential of an agent and refuses it new ones
// (POST /v1/agents/{did}/retire).
func (c *Client) Retire(ctx context.Context, agentDID string) (*api.Agent, error) {
	out := new(api.Agent)
	if err := c.authed(ctx, http.MethodPost, "/v1/agents/"+url.PathEscape(agentDID)+"/retire", nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetStatus changes a credential's status
// (POST /v1/credentials/{id}/{action}).
func (c *Client) SetStatus(ctx context.Context, credentialID string, action api.StatusAction) (*api.Credential, error) {
	switch action {
	case api.Revoke, api.Suspend, api.Reinstate:
	default:
		return nil, fmt.Errorf("client: unknown status action %q", action)
	}
	out := new(api.Credential)
	if err := c.authed(ctx, http.MethodPost, "/v1/credentials/"+url.PathEscape(credentialID)+"/"+string(action), nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Revoke revokes a credential for good.
func (c *Client) Revoke(ctx context.Context, credentialID string) (*api.Credential, error) {
	return c.SetStatus(ctx, credentialID, api.Revoke)
}

// Suspend suspends a credential until it is reinstated.
func (c *Client) Suspend(ctx context.Context, credentialID string) (*api.Credential, error) {
	return c.SetStatus(ctx, credentialID, api.Suspend)
}

// Reinstate lifts a credential's suspension.
func (c *Client) Reinstate(ctx context.Context, credentialID string) (*api.Credential, error) {
	return c.SetStatus(ctx, credentialID, api.Reinstate)
}

// Principals lists the registered principals (GET /v1/principals, admins).
func (c *Client) Principals(ctx context.Context) ([]api.Principal, error) {
	var out api.PrincipalList
	if err := c.authed(ctx, http.MethodGet, "/v1/principals", nil, &out); err != nil {
		return nil, err
	}
	return out.Principals, nil
}

// AddPrincipal registers a principal and returns it as stored
// (POST /v1/principals, admins).
func (c *Client) AddPrincipal(ctx context.Context, p api.Principal) (*api.Principal, error) {
	out := new(api.Principal)
	if err := c.authed(ctx, http.MethodPost, "/v1/principals", p, out); err != nil {
		return nil, err
	}
	return out, nil
}

// RemovePrincipal unregisters a principal (DELETE /v1/principals/{did},
// admins).
func (c *Client) RemovePrincipal(ctx context.Context, principalDID string) error {
	return c.authed(ctx, http.MethodDelete, "/v1/principals/"+url.PathEscape(principalDID), nil, nil)
}

// Keys lists the issuer's signing keys (GET /v1/keys).
func (c *Client) Keys(ctx context.Context) ([]api.KeyInfo, error) {
	var out api.KeyList
	if err := c.authed(ctx, http.MethodGet, "/v1/keys", nil, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// RotateKey makes a new primary signing key; older keys keep verifying
// (POST /v1/keys/rotate, admins).
func (c *Client) RotateKey(ctx context.Context) (*api.KeyInfo, error) {
	out := new(api.KeyInfo)
	if err := c.authed(ctx, http.MethodPost, "/v1/keys/rotate", nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// AuditFilter selects audit events; empty fields do not filter.
type AuditFilter struct {
	Agent    string // agent DID (the event's subject)
	Actor    string // actor DID
	Action   string // such as audit.ActionVerify
	Decision string // audit.DecisionAllow or audit.DecisionDeny
	// Since and Until bound the event time: an RFC 3339 time, or a
	// duration back from now such as "24h".
	Since, Until string
	// Limit is the most events answered (the server's default, 1000, when
	// 0; at most 10,000).
	Limit int
	// After selects events with a sequence number above it, for paging.
	After uint64
	// PageSize is the number of events AuditExport asks for per request
	// (10,000 when 0, at least 2); Audit and AuditTail ignore it.
	PageSize int
}

func (f AuditFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"agent": f.Agent, "actor": f.Actor, "action": f.Action, "decision": f.Decision, "since": f.Since, "until": f.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.After > 0 {
		q.Set("after", strconv.FormatUint(f.After, 10))
	}
	return q
}

// Audit returns audit events, oldest first (GET /v1/audit, admins).
func (c *Client) Audit(ctx context.Context, f AuditFilter) ([]audit.Event, error) {
	var out api.EventList
	if err := c.authed(ctx, http.MethodGet, "/v1/audit?"+f.values().Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// auditPage is the page AuditTail asks for: the server's largest.
const auditPage = 10_000

// AuditTail returns the latest n events matching f (f.Limit and f.After
// are ignored), oldest first, as `agentid audit tail` prints them. It
// reads the log from its end (GET /v1/audit?order=desc, newest first,
// paging back with before=), so its requests grow with n, not with the
// log. A server older than order=desc answers oldest first; AuditTail
// then pages through every matching event (after=) keeping the last n.
func (c *Client) AuditTail(ctx context.Context, f AuditFilter, n int) ([]audit.Event, error) {
	if n <= 0 {
		return nil, fmt.Errorf("client: audit tail of %d events", n)
	}
	f.Limit, f.After = 0, 0
	var out []audit.Event // newest first
	var before uint64
	for len(out) < n {
		// At least two a page, so that the order of a page tells
		// whether the server read from the end: a page of fewer than
		// asked holds every matching event left, in either order.
		ask := min(max(n-len(out), 2), auditPage)
		q := f.values()
		q.Set("order", "desc")
		q.Set("limit", strconv.Itoa(ask))
		if before > 0 {
			q.Set("before", strconv.FormatUint(before, 10))
		}
		var page api.EventList
		if err := c.authed(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		evs := page.Events
		if len(evs) > 1 && evs[0].Seq < evs[1].Seq {
			if before > 0 {
				return nil, fmt.Errorf("client: audit tail: the server's page before seq %d is oldest first", before)
			}
			// The server ignored order=desc: page from the start.
			fw := f
			fw.Limit = auditPage
			var kept []audit.Event
			for {
				p, err := c.Audit(ctx, fw)
				if err != nil {
					return nil, err
				}
				kept = append(kept, p...)
				if len(kept) > n {
					kept = append(kept[:0], kept[len(kept)-n:]...)
				}
				if len(p) < auditPage {
					return kept, nil
				}
				fw.After = p[len(p)-1].Seq
			}
		}
		if len(evs) > 0 && before > 0 && evs[0].Seq >= before {
			return nil, fmt.Errorf("client: audit tail: the server's page before seq %d starts at seq %d", before, evs[0].Seq)
		}
		out = append(out, evs...)
		if len(evs) < ask {
			break
		}
		before = evs[len(evs)-1].Seq
	}
	out = out[:min(len(out), n)]
	slices.Reverse(out)
	return out, nil
}

// exportPageEvents is the number of events AuditExport asks for per
// request when AuditFilter.PageSize is 0 (a few megabytes, for events of
// the usual few hundred bytes), and exportPageBytes the most it reads of
// one answer: a page of large events is cut after its last whole event,
// and the next page starts there.
const (
	exportPageEvents = 10_000
	exportPageBytes  = 16 << 20
)

// AuditExport writes the selected audit events to w as JSON lines, each
// exactly as the server exports it (GET /v1/audit?format=jsonl, admins);
// the output can be checked with audit.VerifyLines. It pages through the
// events (f.PageSize at a time, following after), so that the client's
// timeout bounds each page rather than the whole export, and reads each
// page whole before writing it, so that a slow w does not count against
// that timeout either; w only ever receives whole lines. f.Limit bounds
// the whole export (0 for every matching event). The server audits each
// page as one read.
func (c *Client) AuditExport(ctx context.Context, f AuditFilter, w io.Writer) error {
	if c.key == nil {
		return errNoKey
	}
	size := f.PageSize
	if size <= 0 {
		size = exportPageEvents
	}
	// The server audits each page as a read: pages of one event would
	// chase the read events the export itself adds, and never end.
	size = max(size, 2)
	left := f.Limit // 0: no bound
	first := true
	for {
		ask := size
		if f.Limit > 0 && left < ask {
			ask = left
		}
		q := f.values()
		q.Set("format", "jsonl")
		q.Set("limit", strconv.Itoa(ask))
		page, n, cut, err := c.exportPage(ctx, "/v1/audit?"+q.Encode())
		if _, werr := w.Write(page); werr != nil {
			return fmt.Errorf("audit export: %w", werr)
		}
		if err != nil {
			if first {
				return fmt.Errorf("audit export: %w", err)
			}
			return fmt.Errorf("audit export, the page after seq %d: %w", f.After, err)
		}
		if n == 0 {
			return nil
		}
		seq, err := lastSeq(page)
		if err != nil {
			return fmt.Errorf("audit export, the page after seq %d: %w", f.After, err)
		}
		if seq <= f.After {
			return fmt.Errorf("audit export: the server's page after seq %d ends at seq %d", f.After, seq)
		}
		f.After, left, first = seq, left-n, false
		if (n < ask && !cut) || (f.Limit > 0 && left <= 0) {
			return nil
		}
	}
}

// exportPage reads one page of an export: its whole lines, how many, and
// whether it was cut at exportPageBytes (the server had more to say).
func (c *Client) exportPage(ctx context.Context, path string) (page []byte, n int, cut bool, err error) {
	resp, err := c.send(ctx, c.key, "", http.MethodGet, path, nil)
	if err != nil {
		return nil, 0, false, err
	}
	defer resp.Body.Close()
	return readLines(resp.Body, exportPageBytes)
}

// readLines reads r up to max bytes and returns its whole lines, how many
// there are, and whether r had more than max bytes (the page is then cut
// after its last whole line). An answer that ends inside a line (the
// server's export failed part way) or a line longer than max is an error.
func readLines(r io.Reader, max int) (page []byte, n int, cut bool, err error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, 0, false, err
	}
	if cut = len(b) > max; cut {
		b = b[:max]
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	switch {
	case cut && end == 0:
		return nil, 0, false, fmt.Errorf("an event over %d bytes", max)
	case !cut && end != len(b):
		return b[:end], bytes.Count(b[:end], []byte("\n")), false, errors.New("the answer ends inside an event")
	}
	return b[:end], bytes.Count(b[:end], []byte("\n")), cut, nil
}

// lastSeq is the seq of the last line of page.
func lastSeq(page []byte) (uint64, error) {
	last := bytes.TrimSuffix(page, []byte("\n"))
	last = last[bytes.LastIndexByte(last, '\n')+1:]
	var ev struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(last, &ev); err != nil {
		return 0, fmt.Errorf("unexpected line: %v", err)
	}
	return ev.Seq, nil
}

// AuditSummary returns per-agent activity and anomalies over the window
// since (a duration back from now such as "24h"; empty for the server's
// default, 24h) (GET /v1/audit/summary, admins).
func (c *Client) AuditSummary(ctx context.Context, since string) (*audit.Summary, error) {
	path := "/v1/audit/summary"
	if since != "" {
		path += "?since=" + url.QueryEscape(since)
	}
	out := new(audit.Summary)
	if err := c.authed(ctx, http.MethodGet, path, nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// AuditVerify has the server check its audit hash chain
// (GET /v1/audit/verify, admins). A broken chain is a report that is not
// OK, not an error.
func (c *Client) AuditVerify(ctx context.Context) (*audit.VerifyReport, error) {
	out := new(audit.VerifyReport)
	if err := c.authed(ctx, http.MethodGet, "/v1/audit/verify", nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Verify asks the server's verifier service about a presentation
// (POST /v1/verify, public: the client's key is not used). A refusal is a
// response with Valid false and the reason in Error, not an error.
func (c *Client) Verify(ctx context.Context, req api.VerifyRequest) (*api.VerifyResponse, error) {
	out := new(api.VerifyResponse)
	if err := c.do(ctx, nil, "", http.MethodPost, "/v1/verify", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// authed is do with the client's principal key, which it requires.
func (c *Client) authed(ctx context.Context, method, path string, in, out any) error {
	if c.key == nil {
		return errNoKey
	}
	return c.do(ctx, c.key, "", method, path, in, out)
}

// AuditHead asks the server to sign its audit chain head now
// (GET /v1/audit/head, admins) and returns the signed head.
func (c *Client) AuditHead(ctx context.Context) (*api.SignedHead, error) {
	out := new(api.SignedHead)
	if err := c.authed(ctx, http.MethodGet, "/v1/audit/head", nil, out); err != nil {
		return nil, err
	}
	return out, nil
}
