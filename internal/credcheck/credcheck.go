// Package credcheck holds the W3C VC Data Model 2.0 checks shared by
// package vc (AgentCredentials and presentations) and package statuslist
// (BitstringStatusList credentials): the base @context and type, the
// agreement of registered JWT claims with the data model, and the validity
// window.
//
// It is internal so that these helpers are not part of agentid's public
// API; callers outside the module use vc's Validate and CheckValidity
// methods instead. Every failure is a *reason.Error (malformed, expired or
// not_yet_valid) whose detail starts with "vc: ", as in package vc's own
// errors.
package credcheck

import (
	"time"

	"github.com/agentid/agentid/reason"
)

// ContextV2 is the W3C VC Data Model 2.0 base context, which must be the
// first @context entry. It equals vc.ContextV2.
const ContextV2 = "https://www.w3.org/ns/credentials/v2"

// Claims are the registered JWT claims that may accompany a JOSE-secured
// credential. Its fields are those of vc.Claims, so that a *vc.Claims
// converts to a *Claims.
type Claims struct {
	Iss string
	Sub string
	Jti string
	Iat int64
	Exp int64
	Nbf int64
}

// HasType reports whether types contains t.
func HasType(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// CheckBase checks @context and type of any VC 2.0 credential or
// presentation: ContextV2 first, and base among the types.
func CheckBase(context, types []string, base string) error {
	if len(context) == 0 || context[0] != ContextV2 {
		return reason.New(reason.Malformed, "vc: first @context is not "+ContextV2)
	}
	if !HasType(types, base) {
		return reason.New(reason.Malformed, "vc: type does not include "+base)
	}
	return nil
}

// CheckClaims cross-checks registered JWT claims with the data model of a
// credential: every claim that is present must agree, so that a JWT library
// and a VC processor can never reach different conclusions. It also
// requires an issuer and validUntil after validFrom when both are set.
func CheckClaims(cl *Claims, issuer, subject, id string, validFrom, validUntil *time.Time) error {
	if issuer == "" {
		return reason.New(reason.Malformed, "vc: no issuer")
	}
	if cl.Iss != "" && cl.Iss != issuer {
		return reason.New(reason.Malformed, "vc: iss claim disagrees with issuer")
	}
	if cl.Sub != "" && cl.Sub != subject {
		return reason.New(reason.Malformed, "vc: sub claim disagrees with credentialSubject.id")
	}
	if cl.Jti != "" && cl.Jti != id {
		return reason.New(reason.Malformed, "vc: jti claim disagrees with id")
	}
	if cl.Exp != 0 && (validUntil == nil || validUntil.Unix() != cl.Exp) {
		return reason.New(reason.Malformed, "vc: exp claim disagrees with validUntil")
	}
	if cl.Nbf != 0 && (validFrom == nil || validFrom.Unix() != cl.Nbf) {
		return reason.New(reason.Malformed, "vc: nbf claim disagrees with validFrom")
	}
	if validFrom != nil && validUntil != nil && !validUntil.After(*validFrom) {
		return reason.New(reason.Malformed, "vc: validUntil is not after validFrom")
	}
	return nil
}

// CheckWindow checks the validity window of any credential at now with the
// given clock skew allowance: expired past validUntil (and past exp when it
// is not 0), not_yet_valid before validFrom. A nil bound is not checked.
func CheckWindow(now time.Time, skew time.Duration, validFrom, validUntil *time.Time, exp int64) error {
	if validUntil != nil && now.After(validUntil.Add(skew)) {
		return reason.New(reason.Expired, "vc: credential expired at "+validUntil.UTC().Format(time.RFC3339))
	}
	if exp != 0 && now.After(time.Unix(exp, 0).Add(skew)) {
		return reason.New(reason.Expired, "vc: credential exp has passed")
	}
	if validFrom != nil && now.Add(skew).Before(*validFrom) {
		return reason.New(reason.NotYetValid, "vc: credential is valid from "+validFrom.UTC().Format(time.RFC3339))
	}
	return nil
}
