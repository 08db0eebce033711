package issuer

import (
	"context"
	"fmt"

	"github.com/agentid/agentid/store"
)

// AgentCredentials returns the records of every credential issued to an
// agent, oldest first, with their status as stored (revoked, suspended
// and by whom; expiry is the caller's to compare with ValidUntil). Admins
// may read any agent's, orchestrators only those of agents they created;
// another's agent is answered as unknown, as by [Issuer.Agent].
func (is *Issuer) AgentCredentials(ctx context.Context, actor *Principal, agentDID string) ([]Credential, error) {
	var out []Credential
	err := is.db.View(ctx, func(tx store.Tx) error {
		var r agentRecord
		if err := visibleAgent(tx, actor, agentDID, &r); err != nil {
			return err
		}
		ids, err := agentCredentials(tx, &r)
		if err != nil {
			return err
		}
		for _, id := range ids {
			var c credentialRecord
			ok, err := getJSON(tx, bucketCredentials, id, &c)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("issuer: credential record %s of agent %s is missing", id, agentDID)
			}
			out = append(out, *c.credential())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// visibleAgent reads the record of agentDID into a, if actor may see it:
// admins see every agent, orchestrators only those they created. An agent
// actor may not see is answered as unknown, so that an orchestrator learns
// nothing of others' agents.
func visibleAgent(tx store.Tx, actor *Principal, agentDID string, a *agentRecord) error {
	ok, err := getJSON(tx, bucketAgents, agentDID, a)
	if err != nil {
		return err
	}
	if !ok || (actor.Role != RoleAdmin && a.CreatedBy != actor.DID) {
		return fail(KindNotFound, CodeUnknownAgent, "no agent %s", agentDID)
	}
	return nil
}
