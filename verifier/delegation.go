package verifier

import (
	"context"
	"fmt"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// blame names the ancestor behind a revoked or suspended sub-agent
// credential. agentid lays out a sub-agent's credentialStatus as its own
// revocation and suspension entries, then one agent-level pair per link of
// credentialSubject.delegation, root first (docs/delegation.md).
// Only on a refusal, and only when the layout matches, does blame check
// the pairs one by one to find the root-most ancestor whose entry is set;
// otherwise err is returned as it is. It never turns a refusal into an
// acceptance: a check that now passes (a reinstatement in between) leaves
// err as it was.
func (v *Verifier) blame(ctx context.Context, c *vc.Credential, err error) error {
	return v.blameChain(ctx, c.Issuer.ID, c.CredentialSubject.Delegation, c.CredentialStatus, err)
}

// blameChain is blame for a credential's issuer, delegation chain and
// status entries, as an access token carries them too.
func (v *Verifier) blameChain(ctx context.Context, issuer string, chain []vc.DelegationLink, st []vc.StatusEntry, err error) error {
	code, _ := reason.CodeOf(err)
	if (code != reason.Revoked && code != reason.Suspended) || len(chain) == 0 || len(st) != 2+2*len(chain) {
		return err
	}
	if v.status.Check(ctx, issuer, st[:2]) != nil {
		return err // the credential itself
	}
	for i, l := range chain {
		perr := v.status.Check(ctx, issuer, st[2+2*i:4+2*i])
		if pc, ok := reason.CodeOf(perr); ok && (pc == reason.Revoked || pc == reason.Suspended) {
			return reason.Wrap(pc, fmt.Sprintf("verifier: ancestor %s (delegation link %d, credential %s) is %s", l.Holder, i, l.Credential, pc), err)
		}
	}
	return err
}
