// Package recordmac authenticates records at rest: the issuer's principal,
// agent and credential records and the status lists' records carry an
// HMAC-SHA256, under a key derived from the master key
// (keystore.PurposeRecords), bound to the bucket and key they are stored
// under, so that a record edited, forged or moved to another key by
// someone who can write the database but lacks the master key is refused.
//
// A sealed value is the prefix "\x00am1", the 32-byte MAC, then the record
// as it was stored before (JSON, or the status lists' binary forms). No
// record of an earlier release starts with a NUL byte, which is how an
// unsealed record is told from a sealed one.
package recordmac

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	prefix = "\x00am1"
	macLen = sha256.Size
	// domain separates these MACs from any other use of the key.
	domain = "agentid record mac v1\x00"
)

// Errors returned by Open. Both mean the record must not be used.
var (
	// ErrUnsealed: the record carries no MAC (written without the key, or
	// by a release before record MACs and not migrated).
	ErrUnsealed = errors.New("record carries no MAC")
	// ErrTampered: the record's MAC does not match its content, bucket
	// and key.
	ErrTampered = errors.New("record MAC does not match: the record was edited, forged or moved")
)

// Sealer seals and opens records under one key. The zero Sealer and a nil
// *Sealer have no key: they store records as they are and read only
// unsealed records, as releases before record MACs did (for tests and
// tools without the master key).
type Sealer struct {
	key []byte
}

// New returns a Sealer for key (at least 32 bytes).
func New(key []byte) (*Sealer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("recordmac: key is %d bytes, want at least 32", len(key))
	}
	return &Sealer{key: bytes.Clone(key)}, nil
}

// Keyed reports whether s has a key.
func (s *Sealer) Keyed() bool { return s != nil && s.key != nil }

func (s *Sealer) mac(bucket string, key, val []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(domain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(bucket)))
	m.Write(n[:])
	m.Write([]byte(bucket))
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	m.Write(n[:])
	m.Write(key)
	m.Write(val)
	return m.Sum(nil)
}

// Seal returns the stored form of val under bucket and key.
func (s *Sealer) Seal(bucket string, key, val []byte) []byte {
	if !s.Keyed() {
		return val
	}
	out := make([]byte, 0, len(prefix)+macLen+len(val))
	out = append(out, prefix...)
	out = append(out, s.mac(bucket, key, val)...)
	return append(out, val...)
}

// IsSealed reports whether stored carries a MAC (checked or not).
func IsSealed(stored []byte) bool { return bytes.HasPrefix(stored, []byte(prefix)) }

// Open checks stored, read from bucket under key, and returns the record
// in it. With a key, an unsealed record fails with ErrUnsealed and a bad
// MAC with ErrTampered. Without a key, a sealed record fails (its MAC
// cannot be checked) and an unsealed one is returned as is.
func (s *Sealer) Open(bucket string, key, stored []byte) ([]byte, error) {
	sealed := IsSealed(stored)
	if !s.Keyed() {
		if sealed {
			return nil, fmt.Errorf("%w: the record is sealed and no record key is configured", ErrTampered)
		}
		return stored, nil
	}
	if !sealed {
		return nil, ErrUnsealed
	}
	if len(stored) < len(prefix)+macLen {
		return nil, ErrTampered
	}
	got := stored[len(prefix) : len(prefix)+macLen]
	val := stored[len(prefix)+macLen:]
	if !hmac.Equal(got, s.mac(bucket, key, val)) {
		return nil, ErrTampered
	}
	return val, nil
}
