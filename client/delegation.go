package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/agentid/agentid/api"
)

// IssueSubAgent asks, as the agent holding parent's key and its current
// credential, for a sub-agent's first credential (POST /v1/agents with a
// presentation of the parent's credential, bound to the request and its
// body). The grant in req must attenuate the parent's; req.Proof is a
// proof of control by the sub-agent's key made for the parent: see
// [Client.ProofFor] with the parent's DID. The client's own key is not
// used.
func (c *Client) IssueSubAgent(ctx context.Context, parent *Key, credential string, req api.IssueRequest) (*api.Issued, error) {
	if parent == nil || credential == "" {
		return nil, errors.New("client: IssueSubAgent needs the parent agent's key and credential")
	}
	out := new(api.Issued)
	if err := c.do(ctx, parent, credential, http.MethodPost, "/v1/agents", req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// RetireTree retires an agent and all its descendants in one step
// (POST /v1/agents/{did}/retire with {"tree": true}) and returns the
// agents retired.
func (c *Client) RetireTree(ctx context.Context, agentDID string) ([]api.Agent, error) {
	var out api.AgentList
	if err := c.authed(ctx, http.MethodPost, "/v1/agents/"+url.PathEscape(agentDID)+"/retire", api.Retire{Tree: true}, &out); err != nil {
		return nil, err
	}
	return out.Agents, nil
}

// RetireTask retires every agent of a job in one step
// (POST /v1/jobs/{task}/retire) and returns the agents retired.
func (c *Client) RetireTask(ctx context.Context, task string) ([]api.Agent, error) {
	var out api.AgentList
	if err := c.authed(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(task)+"/retire", nil, &out); err != nil {
		return nil, err
	}
	return out.Agents, nil
}
