package server

import (
	"encoding/binary"
	"errors"
	"math"
)

// A lot is the replay records of one flush of a journaledReplay, stored
// as one value: writing them as one record dirties a page or two at the
// end of the bucket, where one record per jti dirtied a leaf page per
// record (random keys) at every flush.
//
//	key:   0xFF, lot number (8 bytes, big endian; above every earlier lot's)
//	value: lotVersion, latest expiry of the lot (8 bytes, Unix ns, big endian),
//	       number of records (4 bytes, big endian), then per record: uvarint len(holder), holder, uvarint len(jti), jti,
//	       expiry (8 bytes, Unix ns, big endian)
//
// A key of a record of one jti starts with the holder (a DID, or empty
// and then NUL): never 0xFF.
const (
	lotKeyPrefix = 0xFF
	lotVersion   = 1
	lotHeader    = 1 + 8 + 4
)

func lotKey(n uint64) []byte {
	k := make([]byte, 9)
	k[0] = lotKeyPrefix
	binary.BigEndian.PutUint64(k[1:], n)
	return k
}

func isLotKey(k []byte) bool { return len(k) == 9 && k[0] == lotKeyPrefix }

// encodeLot encodes recs (at least one) as a lot value.
func encodeLot(recs []replayRec) []byte {
	size := lotHeader
	maxExp := int64(math.MinInt64)
	for _, r := range recs {
		size += 2*binary.MaxVarintLen64 + len(r.holder) + len(r.jti) + 8
		maxExp = max(maxExp, r.exp)
	}
	b := make([]byte, lotHeader, size)
	b[0] = lotVersion
	binary.BigEndian.PutUint64(b[1:], uint64(maxExp))
	binary.BigEndian.PutUint32(b[9:], uint32(len(recs)))
	for _, r := range recs {
		b = binary.AppendUvarint(b, uint64(len(r.holder)))
		b = append(b, r.holder...)
		b = binary.AppendUvarint(b, uint64(len(r.jti)))
		b = append(b, r.jti...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.exp))
	}
	return b
}

// lotMaxExp returns the latest expiry of lot value v.
func lotMaxExp(v []byte) (int64, bool) {
	if len(v) < lotHeader || v[0] != lotVersion {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[1:])), true
}

var errLot = errors.New("server: replay journal: a damaged lot")

// readLot calls fn with each record of lot value v (holder and jti alias
// v), and fails on a value that is not a whole lot (as many records as
// its header says, no bytes after them) or whose records expire after the
// latest expiry its header claims.
func readLot(v []byte, fn func(holder, jti []byte, exp int64)) error {
	maxExp, ok := lotMaxExp(v)
	if !ok {
		return errLot
	}
	field := func(b []byte) ([]byte, []byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, nil, false
		}
		return b[k : k+int(n)], b[k+int(n):], true
	}
	count := binary.BigEndian.Uint32(v[9:])
	rest := v[lotHeader:]
	if count == 0 {
		return errLot
	}
	for ; count > 0; count-- {
		holder, r, ok := field(rest)
		if !ok {
			return errLot
		}
		jti, r, ok := field(r)
		if !ok || len(r) < 8 {
			return errLot
		}
		exp := int64(binary.BigEndian.Uint64(r))
		if exp > maxExp {
			return errLot
		}
		fn(holder, jti, exp)
		rest = r[8:]
	}
	if len(rest) != 0 {
		return errLot
	}
	return nil
}
