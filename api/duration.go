package api

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration that is written to JSON as a Go duration
// string ("15m0s") and read from one ("15m") or from a number of seconds
// (900).
type Duration time.Duration

// MarshalJSON writes "15m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads "15m" or 900.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if len(b) > 0 && b[0] != '"' {
		s += "s"
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", strings.Trim(string(b), `"`))
	}
	*d = Duration(v)
	return nil
}

// String returns the duration as time.Duration writes it.
func (d Duration) String() string { return time.Duration(d).String() }
