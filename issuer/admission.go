package issuer

import (
	"context"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/verifier"
)

// proofOfControl verifies a proof of control of agent's key, as Issue and
// IssueAsAgent both require: a presentation signed by agent's key
// (keyName names it in the refusal) and carrying no credential. The caller
// checks its "for" claim, which differs between the two.
func (is *Issuer) proofOfControl(ctx context.Context, jwt, agent, keyName string) (*vc.Presentation, error) {
	proof, err := is.proof.VerifyHolder(ctx, jwt, verifier.Request{})
	if err != nil {
		return nil, fromReason(err, KindInvalid)
	}
	if len(proof.VerifiableCredential) != 0 {
		return nil, fail(KindInvalid, Code(reason.Malformed), "a proof of control carries no credential")
	}
	if proof.HolderDID() != agent {
		return nil, fail(KindInvalid, Code(reason.HolderMismatch), "proof of control is not signed by %s", keyName)
	}
	return proof, nil
}

// checkDraft encodes a draft of the credential about to be issued and
// validates it against the credential schema, before the write lock is
// taken, so that a request the schema refuses (a bad constraint, say) is a
// clear refusal and never rolls back a batch of other callers' issuances.
func (is *Issuer) checkDraft(draft *vc.Credential, now time.Time) error {
	payload, err := vc.EncodeCredential(draft, now)
	if err != nil {
		return fromReason(err, KindInvalid)
	}
	if err := is.schema.ValidateCredential(payload); err != nil {
		return badRequest("the credential would not match its schema: %v", err)
	}
	return nil
}
