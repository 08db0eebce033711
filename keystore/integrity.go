package keystore

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/agentid/agentid/store"
)

// Integrity key purposes: the HKDF info strings from which the keys that
// authenticate data at rest are derived. They are part of the storage
// format; never change one (add a new purpose instead).
const (
	// PurposeAuditChain keys the audit log's chain (HMAC-SHA256 per event).
	PurposeAuditChain = "agentid integrity v1: audit chain"
	// PurposeRecords keys the MACs of the issuer's and the status lists'
	// records (HMAC-SHA256 bound to bucket and key).
	PurposeRecords = "agentid integrity v1: records"
	// PurposeDPoPNonces keys the DPoP server nonces of the token endpoint
	// (oauth.Nonces): every replica given the master key derives the same
	// key, so a nonce one issues every other accepts.
	PurposeDPoPNonces = "agentid v1: dpop server nonces"
)

// The integrity root is 32 random bytes made once, at the first start of a
// data directory (or of an upgraded one), and kept in bucketIntegrity
// encrypted under the master AEAD with integrityAD as associated data.
//
// Why a stored random root rather than HKDF over the master key bytes:
// the master key is a tink.AEAD, which may one day be a KMS key whose
// secret never leaves the KMS; a root sealed by the AEAD works with any
// AEAD and exposes none of its internals. Whoever lacks the master key can
// neither read the root nor replace it with one of their own (a replaced
// root fails every existing MAC, which Open and verify report).
var (
	bucketIntegrity = "keystore.integrity"
	integrityKey    = []byte("root")
	integrityAD     = []byte("agentid integrity root v1")
)

const integrityRootSize = 32

// ErrIntegrityRoot: the stored integrity root did not decrypt (wrong master
// key, or the record was altered).
var ErrIntegrityRoot = errors.New("integrity root does not decrypt: wrong master key or altered data")

// IntegrityKeys are the MAC keys for data at rest, derived by HKDF-SHA256
// from the integrity root with the Purpose strings as info and no salt.
// They are secrets: never log them.
type IntegrityKeys struct {
	Audit   []byte // PurposeAuditChain
	Records []byte // PurposeRecords
	// DPoPNonce keys DPoP server nonces (PurposeDPoPNonces); not a key of
	// data at rest, derived here because every replica shares the root.
	DPoPNonce []byte
	// Created is true when the root was made by this call: the data
	// directory had no integrity protection before (new, or upgraded from
	// a release without it).
	Created bool
}

// IntegrityKeys returns the integrity MAC keys, creating the root on first
// use. A root that exists but does not decrypt fails with an error wrapping
// [ErrIntegrityRoot]; it is never replaced.
func (s *Store) IntegrityKeys(ctx context.Context) (*IntegrityKeys, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var root []byte
	created := false
	err := s.db.Update(ctx, func(tx store.Tx) error {
		b := tx.Bucket(bucketIntegrity)
		if ct := b.Get(integrityKey); ct != nil {
			pt, err := s.master.Decrypt(ct, integrityAD)
			if err != nil || len(pt) != integrityRootSize {
				return fmt.Errorf("keystore: %w", ErrIntegrityRoot)
			}
			root = pt
			return nil
		}
		root = make([]byte, integrityRootSize)
		if _, err := rand.Read(root); err != nil {
			return fmt.Errorf("keystore: integrity root: %v", err)
		}
		ct, err := s.master.Encrypt(root, integrityAD)
		if err != nil {
			return fmt.Errorf("keystore: integrity root: %v", err)
		}
		created = true
		return b.Put(integrityKey, ct)
	})
	if err != nil {
		return nil, err
	}
	defer clear(root)
	k := &IntegrityKeys{Created: created}
	if k.Audit, err = hkdf.Key(sha256.New, root, nil, PurposeAuditChain, 32); err != nil {
		return nil, fmt.Errorf("keystore: derive audit key: %v", err)
	}
	if k.Records, err = hkdf.Key(sha256.New, root, nil, PurposeRecords, 32); err != nil {
		return nil, fmt.Errorf("keystore: derive records key: %v", err)
	}
	if k.DPoPNonce, err = hkdf.Key(sha256.New, root, nil, PurposeDPoPNonces, 32); err != nil {
		return nil, fmt.Errorf("keystore: derive DPoP nonce key: %v", err)
	}
	return k, nil
}
