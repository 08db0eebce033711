package publish

import "errors"

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
	// ErrTampered: a stored record failed its integrity check (its MAC
	// does not match, or it has none where one is required): it was
	// edited or forged without the master key, and is not used.
	ErrTampered = errors.New("statuslist: stored record failed its integrity check")
)
