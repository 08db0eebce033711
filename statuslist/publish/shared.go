package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentid/agentid/statuslist"
	"github.com/agentid/agentid/store"
)

// bucketSigned holds, for Publishers that share their store with other
// processes (PublisherOptions.Shared), the list credential last signed for
// each list: listKey -> signedRecord (JSON), sealed like every record.
const bucketSigned = "statuslist/signed"

// signedRecord is a signed list credential and the SHA-256 of the bits it
// carries.
type signedRecord struct {
	JWT        string    `json:"jwt"`
	Bits       []byte    `json:"bits"`
	SignedAt   time.Time `json:"signedAt"`
	ValidUntil time.Time `json:"validUntil"`
}

// bitsTx reads list (p, n)'s bits in tx.
func (s *Store) bitsTx(tx store.Tx, p Purpose, n uint32) (*statuslist.Bitstring, error) {
	m, err := s.getMeta(tx, p, n)
	if err != nil {
		return nil, err
	}
	b := make([]byte, m.size/8)
	v, err := s.get(tx, bucketBits, listKey(p, n))
	if err != nil {
		return nil, err
	}
	if v != nil {
		if len(v) != len(b) {
			return nil, errors.New("statuslist: corrupt bitstring record")
		}
		copy(b, v)
	}
	return statuslist.FromBytes(b), nil
}

// storedTx returns the stored list credential of (p, n) when it carries
// the current bits and has more than half its validity left.
func (p *Publisher) storedTx(tx store.Tx, pu Purpose, n uint32) (*signedList, [32]byte, error) {
	bits, err := p.store.bitsTx(tx, pu, n)
	if err != nil {
		return nil, [32]byte{}, err
	}
	sum := sha256.Sum256(bits.Bytes())
	v, err := p.store.get(tx, bucketSigned, listKey(pu, n))
	if err != nil || v == nil {
		return nil, sum, err
	}
	var rec signedRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, sum, fmt.Errorf("statuslist: corrupt signed list record: %w", err)
	}
	sl := signedFrom(rec.JWT, rec.SignedAt, rec.ValidUntil)
	if !bytes.Equal(rec.Bits, sum[:]) || !p.fresh(sl) {
		return nil, sum, nil
	}
	return sl, sum, nil
}

func signedFrom(tok string, signedAt, validUntil time.Time) *signedList {
	h := sha256.Sum256([]byte(tok))
	return &signedList{jwt: tok, etag: `"` + base64.RawURLEncoding.EncodeToString(h[:18]) + `"`, signedAt: signedAt, validUntil: validUntil}
}

// signShared returns list u's credential as every process on the store
// serves it: the stored one when it carries the current bits and is
// fresh; else, in a read-write transaction (which the store serialises
// with every other process's writers, so one process signs a list at a
// time), the stored one if another process stored it meanwhile, or one
// signed now and stored for the others. The caller holds signMu.
func (p *Publisher) signShared(u string) (*signedList, error) {
	pu, n, err := p.store.parseListURL(u)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	var sl *signedList
	if err := p.store.db.View(ctx, func(tx store.Tx) error {
		sl, _, err = p.storedTx(tx, pu, n)
		return err
	}); err != nil {
		return nil, err
	}
	if sl == nil {
		err = p.store.db.Update(ctx, func(tx store.Tx) error {
			var sum [32]byte
			var err error
			if sl, sum, err = p.storedTx(tx, pu, n); err != nil || sl != nil {
				return err
			}
			bits, err := p.store.bitsTx(tx, pu, n)
			if err != nil {
				return err
			}
			now := p.store.now().UTC().Truncate(time.Second)
			until := now.Add(p.validity)
			tok, err := statuslist.SignListCredential(p.signer(), statuslist.ListCredential{
				Issuer: p.issuer, URL: u, Purpose: pu, Bits: bits,
				TTL: p.store.ttl, ValidFrom: now, ValidUntil: until,
			})
			if err != nil {
				return err
			}
			rec, err := json.Marshal(signedRecord{JWT: tok, Bits: sum[:], SignedAt: now, ValidUntil: until})
			if err != nil {
				return err
			}
			if err := p.store.put(tx, bucketSigned, listKey(pu, n), rec); err != nil {
				return err
			}
			sl = signedFrom(tok, now, until)
			p.signatures.Add(1)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	p.signed[u] = sl
	p.mu.Unlock()
	return sl, nil
}

// Signatures returns how many list credentials this Publisher has signed
// (in shared mode; a measure of coalescing across processes).
func (p *Publisher) Signatures() int64 { return p.signatures.Load() }
