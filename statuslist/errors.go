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

// Errors returned by Store and Publisher.
var (
	// ErrIrreversible: an attempt to clear a revocation bit. Revocation is
	// final (Bitstring Status List v1.0, section 2.1); only suspension can
	// be lifted.
	ErrIrreversible = errors.New("statuslist: revocation cannot be undone")
	// ErrUnknownPurpose: a status purpose other than revocation or
	// suspension.
	ErrUnknownPurpose = errors.New("statuslist: unknown status purpose")
	// ErrUnknownList: the list named by a URL or entry does not exist in
	// this store.
	ErrUnknownList = errors.New("statuslist: unknown status list")
	// ErrUnknownEntry: the entry is not one this store handed out: a foreign
	// list URL, a purpose that disagrees with the URL, or an index that was
	// never allocated.
	ErrUnknownEntry = errors.New("statuslist: status entry was not issued by this store")
	// ErrReadOnlyTx: AllocateTx or SetTx was given a read-only transaction.
	ErrReadOnlyTx = errors.New("statuslist: transaction is not writable")
)
