package statuslist

import "errors"

// Errors returned by the bitstring codec.
var (
	// ErrMalformedList: an encodedList is not multibase base64url (prefix
	// 'u', no padding) of a GZIP stream.
	ErrMalformedList = errors.New("statuslist: malformed encodedList")
	// ErrListTooLarge: the decompressed bitstring is over the caller's cap
	// (a GZIP bomb, or simply a list larger than the verifier accepts).
	ErrListTooLarge = errors.New("statuslist: decompressed list is over the size limit")
	// ErrListTooShort: the bitstring has fewer than MinSize entries.
	ErrListTooShort = errors.New("statuslist: list is shorter than the minimum of 131,072 entries")
	// ErrIndexOutOfRange: an index is negative or not below Len.
	ErrIndexOutOfRange = errors.New("statuslist: index out of range")
)
