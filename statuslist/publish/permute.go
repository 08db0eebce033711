package publish

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// feistelRounds is the number of rounds of the permutation. Four rounds of a
// Feistel network with a pseudorandom round function give a strong
// pseudorandom permutation (Luby-Rackoff); eight leave a wide margin for the
// small domains used here, at a cost no one notices (allocation happens once
// per issued credential).
const feistelRounds = 8

// permutation is a keyed pseudorandom permutation of [0, size): a balanced
// Feistel network over the smallest even number of bits that covers size,
// with cycle walking to stay inside the domain. The issuer feeds it a
// counter, 0, 1, 2, ..., so the indexes it hands out are distinct (it is a
// bijection), look random to anyone without the key (herd privacy), and
// need only the key and the counter as state.
type permutation struct {
	size uint64
	half uint   // bits in each half
	mask uint64 // (1<<half)-1
	mac  hash.Hash
}

func newPermutation(key []byte, size int) *permutation {
	bits := uint(1)
	for uint64(1)<<bits < uint64(size) {
		bits++
	}
	if bits%2 == 1 {
		bits++
	}
	half := bits / 2
	return &permutation{
		size: uint64(size),
		half: half,
		mask: 1<<half - 1,
		mac:  hmac.New(sha256.New, key),
	}
}

// round is the Feistel round function: HMAC-SHA256(key, round || x),
// truncated to a half.
func (p *permutation) round(r int, x uint64) uint64 {
	var in [9]byte
	in[0] = byte(r)
	binary.BigEndian.PutUint64(in[1:], x)
	p.mac.Reset()
	p.mac.Write(in[:])
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(p.mac.Sum(sum[:0])) & p.mask
}

func (p *permutation) encrypt1(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for i := 0; i < feistelRounds; i++ {
		l, r = r, l^p.round(i, r)
	}
	return l<<p.half | r
}

func (p *permutation) decrypt1(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for i := feistelRounds - 1; i >= 0; i-- {
		l, r = r^p.round(i, l), l
	}
	return l<<p.half | r
}

// Permute maps x in [0, size) to its image in [0, size). The network
// permutes [0, 4^half), at most four times size, so cycle walking takes
// fewer than four steps on average and always ends, because the cycle
// through x returns to x, which is in the domain.
func (p *permutation) Permute(x uint64) uint64 {
	y := p.encrypt1(x)
	for y >= p.size {
		y = p.encrypt1(y)
	}
	return y
}

// Invert is the inverse of Permute.
func (p *permutation) Invert(y uint64) uint64 {
	x := p.decrypt1(y)
	for x >= p.size {
		x = p.decrypt1(x)
	}
	return x
}
