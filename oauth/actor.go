package oauth

import (
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

// MaxChain bounds the delegation chain a token may carry (agentid's
// issuer allows depth 8 at most).
const MaxChain = 16

// Delegated returns the sub and act claims of a token for agent acting
// through chain, a credential's credentialSubject.delegation (root
// first, ending with agent's parent), as RFC 8693 §4.1 reads them: act
// names the current actor (agent) outermost and the prior actors nested
// inside it, the least recent most deeply; sub is the party whose
// authority they exercise, the root agent of the tree (chain[0]), which
// is not repeated in act. With no chain, sub is agent itself and there is
// no act. docs/oauth.md ("Delegation: sub and act") says why.
func Delegated(agent string, chain []vc.DelegationLink) (sub string, act *Actor) {
	if len(chain) == 0 {
		return agent, nil
	}
	// Innermost first: chain[1] is the least recent actor (chain[0] is
	// the subject), the agent itself the current one.
	for i := 1; i < len(chain); i++ {
		act = &Actor{Subject: chain[i].Holder, Actor: act}
	}
	return chain[0].Holder, &Actor{Subject: agent, Actor: act}
}

// Actors returns the subjects of an act claim, the current actor first
// and the least recent last.
func (a *Actor) Actors() []string {
	var out []string
	for ; a != nil; a = a.Actor {
		out = append(out, a.Subject)
	}
	return out
}

// Agent is the agent the token was issued to, the one acting: its
// client_id (for a sub-agent, sub is the root agent of its tree).
func (t *AccessToken) Agent() string { return t.ClientID }

// checkDelegation refuses a token whose sub, act and delegation claims
// disagree: sub = client_id with neither act nor delegation, or sub,
// act and delegation exactly what [Delegated] makes of delegation.
func (t *AccessToken) checkDelegation() error {
	bad := func(d string) error { return reason.New(reason.Malformed, "oauth: token "+d) }
	if len(t.Delegation) == 0 {
		if t.Act != nil || t.Subject != t.ClientID {
			return bad("sub differs from client_id, or act is present, with no delegation chain")
		}
		return nil
	}
	if len(t.Delegation) > MaxChain {
		return bad("delegation chain is too long")
	}
	for _, l := range t.Delegation {
		if l.Holder == "" || l.Credential == "" {
			return bad("delegation link lacks its holder or credential")
		}
	}
	sub, act := Delegated(t.ClientID, t.Delegation)
	got, want := t.Act.Actors(), act.Actors()
	if t.Subject != sub || len(got) != len(want) {
		return bad("sub or act disagrees with the delegation chain")
	}
	for i := range got {
		if got[i] != want[i] {
			return bad("act disagrees with the delegation chain")
		}
	}
	return nil
}
