package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentid/agentid/api"
)

// Approvals lists approval requests (GET /v1/approvals): every one for
// admins and approvers, the caller's own otherwise; status "" for any.
func (c *Client) Approvals(ctx context.Context, status string) ([]api.Approval, error) {
	path := "/v1/approvals"
	if status != "" {
		path += "?status=" + url.QueryEscape(status)
	}
	var out api.ApprovalList
	if err := c.authed(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Approvals, nil
}

// Approval reads one approval request (GET /v1/approvals/{id}). With wait
// > 0 (at most 60 s) the server holds the answer until the request is
// decided or expires, or wait has passed. The requester gets the
// credential in Issued once it is approved.
func (c *Client) Approval(ctx context.Context, id string, wait time.Duration) (*api.Approval, error) {
	path := "/v1/approvals/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + url.QueryEscape(wait.String())
	}
	ctx, cancel, hc := c.longPoll(ctx, wait)
	defer cancel()
	if c.key == nil {
		return nil, errNoKey
	}
	out := new(api.Approval)
	if err := c.doWith(ctx, hc, c.key, "", http.MethodGet, path, nil, out); err != nil {
		return nil, err
	}
	return out, nil
}

// WaitApproval long-polls an approval request until it is no longer
// pending or ctx ends.
func (c *Client) WaitApproval(ctx context.Context, id string) (*api.Approval, error) {
	for {
		a, err := c.Approval(ctx, id, 50*time.Second)
		if err != nil || a.Status != api.ApprovalPending {
			return a, err
		}
		if err := ctx.Err(); err != nil {
			return a, err
		}
	}
}

// Approve approves a pending request with a reason
// (POST /v1/approvals/{id}/approve).
func (c *Client) Approve(ctx context.Context, id, reason string) (*api.Approval, error) {
	return c.decide(ctx, id, "approve", reason)
}

// Deny denies a pending request with a reason
// (POST /v1/approvals/{id}/deny).
func (c *Client) Deny(ctx context.Context, id, reason string) (*api.Approval, error) {
	return c.decide(ctx, id, "deny", reason)
}

func (c *Client) decide(ctx context.Context, id, decision, reason string) (*api.Approval, error) {
	out := new(api.Approval)
	if err := c.authed(ctx, http.MethodPost, "/v1/approvals/"+url.PathEscape(id)+"/"+decision, api.Decision{Reason: reason}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ApprovalEvents follows the approval feed (GET /v1/approvals/events,
// admins and approvers) and calls fn with each event's type (the
// approval's new status) and approval, until ctx ends, the stream ends or
// fn returns an error.
func (c *Client) ApprovalEvents(ctx context.Context, fn func(event string, a *api.Approval) error) error {
	if c.key == nil {
		return errNoKey
	}
	// The feed lasts until ctx ends: the client's timeout does not apply.
	resp, err := c.sendWith(ctx, c.untimed(), c.key, "", http.MethodGet, "/v1/approvals/events", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), MaxResponseBytes)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var a api.Approval
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &a); err != nil {
				return fmt.Errorf("client: approval feed: %v", err)
			}
			if err := fn(event, &a); err != nil {
				return err
			}
			event = ""
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// ApprovalAsAgent is Approval for an agent that asked for a sub-agent
// (IssueSubAgent answered with an approval id): it authenticates with a
// presentation of the agent's credential and sees only its own requests.
func (c *Client) ApprovalAsAgent(ctx context.Context, agent *Key, credential, id string, wait time.Duration) (*api.Approval, error) {
	path := "/v1/approvals/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + url.QueryEscape(wait.String())
	}
	ctx, cancel, hc := c.longPoll(ctx, wait)
	defer cancel()
	out := new(api.Approval)
	if err := c.doWith(ctx, hc, agent, credential, http.MethodGet, path, nil, out); err != nil {
		return nil, err
	}
	return out, nil
}
