package issuer

// The OAuth face for sub-agents: see docs/oauth.md ("Delegation") and
// docs/delegation.md ("Access tokens").

import (
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/store"
)

// ancestorRefusal walks up from parent, in the token request's
// transaction, and refuses the grant when an ancestor is retired or its
// current credential revoked (revoked) or suspended (suspended), naming
// the root-most such ancestor, as a resource server reading the
// agent-level status entries would. A missing ancestor record refuses
// (fail closed).
func ancestorRefusal(tx store.Tx, parent string) *Error {
	var found *Error
	revoked := false
	for i := 0; parent != "" && i <= MaxDelegationDepth; i++ {
		var p agentRecord
		if ok, err := getJSON(tx, bucketAgents, parent, &p); err != nil || !ok {
			return refuse(KindForbidden, oauth.InvalidGrant, reason.Revoked, "ancestor "+parent+" has no record")
		}
		var c credentialRecord
		ok, _ := getJSON(tx, bucketCredentials, p.CurrentCredential, &c)
		switch {
		case p.Retired:
			found, revoked = refuse(KindForbidden, oauth.InvalidGrant, reason.Revoked, "ancestor "+p.DID+" is retired"), true
		case ok && c.Revoked:
			found, revoked = refuse(KindForbidden, oauth.InvalidGrant, reason.Revoked, "ancestor "+p.DID+" is revoked"), true
		case ok && c.Suspended && !revoked:
			found = refuse(KindForbidden, oauth.InvalidGrant, reason.Suspended, "ancestor "+p.DID+" is suspended")
		}
		parent = p.Parent
	}
	return found
}
