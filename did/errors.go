package did

import (
	"fmt"

	"github.com/agentid/agentid/reason"
)

// Error codes carried by [ResolutionError]. The first five are the error
// names of the W3C DID Resolution specification; the last two come from the
// did:key method specification. Codes travel on the wire and are never
// renamed.
const (
	// CodeInvalidDID: the input is not a conforming DID or DID URL.
	CodeInvalidDID = "invalidDid"
	// CodeNotFound: the DID document does not exist, or it exists but the
	// requested verification method is not in it (or not listed under the
	// requested relationship).
	CodeNotFound = "notFound"
	// CodeMethodNotSupported: the DID method is not one this resolver
	// handles (for example did:web on a resolver built without a
	// WebResolver).
	CodeMethodNotSupported = "methodNotSupported"
	// CodeInvalidDIDDocument: the fetched or supplied DID document is
	// malformed, over the size limit, or inconsistent (for example its id is
	// not the requested DID).
	CodeInvalidDIDDocument = "invalidDidDocument"
	// CodeInternalError: the resolver failed for a reason unrelated to the
	// input, such as a network error, a timeout or an unexpected HTTP status.
	CodeInternalError = "internalError"
	// CodeInvalidPublicKey: the key material is malformed: wrong length, a
	// point that is not on the curve, a private member in a public JWK.
	CodeInvalidPublicKey = "invalidPublicKey"
	// CodeInvalidPublicKeyType: the key material is well formed but of a
	// type agentid does not verify with (X25519, P-384, P-521, secp256k1,
	// RSA, ...). Only Ed25519 and P-256 are supported.
	CodeInvalidPublicKeyType = "invalidPublicKeyType"
)

// ResolutionError is the error returned by every function in this package.
// Code is one of the Code* constants; DID is the DID or DID URL concerned
// (empty when there is none, as for a bare public key); Err is the cause, if
// any.
//
// Callers branch on Code, or on the agentid reason code with errors.Is:
//
//	var re *did.ResolutionError
//	if errors.As(err, &re) && re.Code == did.CodeNotFound { ... }
//	if errors.Is(err, reason.Malformed) { ... }
type ResolutionError struct {
	Code string
	DID  string
	Err  error
}

func (e *ResolutionError) Error() string {
	s := "did: " + e.Code
	if e.DID != "" {
		s += " " + quoteTrunc(e.DID)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *ResolutionError) Unwrap() error { return e.Err }

// Reason maps the resolution error code onto the agentid reason codes:
// syntax and key-material problems are [reason.Malformed]; anything that
// means "no usable key was found" is [reason.UnknownKey].
func (e *ResolutionError) Reason() reason.Code {
	switch e.Code {
	case CodeInvalidDID, CodeInvalidDIDDocument, CodeInvalidPublicKey:
		return reason.Malformed
	default:
		// notFound, methodNotSupported, invalidPublicKeyType, internalError
		// and anything unexpected: fail closed as an unknown key.
		return reason.UnknownKey
	}
}

// Is reports whether target is the reason code this error maps to, so that
// errors.Is(err, reason.Malformed) works.
func (e *ResolutionError) Is(target error) bool {
	c, ok := target.(reason.Code)
	return ok && c == e.Reason()
}

// fail is the one constructor for errors in this package. The message is
// formatted with %v semantics, so causes inside args are not unwrappable;
// use failWrap when callers should see the cause.
func fail(code, did, format string, args ...any) *ResolutionError {
	return &ResolutionError{Code: code, DID: did, Err: fmt.Errorf(format, args...)}
}

// failWrap is fail with an inspectable cause.
func failWrap(code, did string, err error) *ResolutionError {
	return &ResolutionError{Code: code, DID: did, Err: err}
}

// quoteTrunc quotes s for an error message, truncating hostile input so an
// error never carries a 64 KiB DID.
func quoteTrunc(s string) string {
	const max = 128
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
