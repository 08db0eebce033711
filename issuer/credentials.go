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
		ok, err := getJSON(tx, bucketAgents, agentDID, &r)
		if err != nil {
			return err
		}
		if !ok || (actor.Role != RoleAdmin && r.CreatedBy != actor.DID) {
			return fail(KindNotFound, CodeUnknownAgent, "no agent %s", agentDID)
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
