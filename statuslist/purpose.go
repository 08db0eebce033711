package statuslist

import "time"

// Purpose is a statusPurpose. agentid issues two: Revocation, which is
// final, and Suspension, which can be lifted.
type Purpose string

// The status purposes agentid uses.
const (
	Revocation Purpose = "revocation"
	Suspension Purpose = "suspension"
)

// Valid reports whether p is Revocation or Suspension.
func (p Purpose) Valid() bool { return p == Revocation || p == Suspension }

// EntryType is the credentialStatus type of every entry agentid issues.
const EntryType = "BitstringStatusListEntry"

// DefaultKeepalive is the interval between keepalive comments on a change
// feed; a subscriber that hears nothing for a few of them reconnects.
const DefaultKeepalive = 15 * time.Second

// ParseIndex parses a canonical statusListIndex (or list number): a
// non-negative decimal of digits only, no sign, no leading zero (but "0"),
// at most 10 digits.
func ParseIndex(s string) (int, bool) {
	if len(s) == 0 || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// FromBytes returns the bitstring whose bytes are b (index 0 is the most
// significant bit of b[0]). b is used, not copied.
func FromBytes(b []byte) *Bitstring { return &Bitstring{b: b} }
