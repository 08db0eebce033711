package audit

import (
	"errors"
	"testing"
	"time"
)

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name string
		f    Filter
		ok   bool
	}{
		{"zero", Filter{}, true},
		{"since before until", Filter{Since: t0, Until: t0.Add(time.Hour)}, true},
		{"since equals until", Filter{Since: t0, Until: t0}, true},
		{"only since", Filter{Since: t0}, true},
		{"since after until", Filter{Since: t0.Add(time.Hour), Until: t0}, false},
		{"negative limit", Filter{Limit: -1}, false},
		{"unknown decision", Filter{Decision: "perhaps"}, false},
		{"deny", Filter{Decision: DecisionDeny}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadFilter) {
				t.Fatalf("Validate = %v, want ErrBadFilter", err)
			}
		})
	}
}
