package reason

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorIsAndAs(t *testing.T) {
	base := errors.New("boom")
	err := fmt.Errorf("verify: %w", Wrap(Revoked, "bit set", base))
	if !errors.Is(err, Revoked) {
		t.Fatal("errors.Is(err, Revoked) = false")
	}
	if errors.Is(err, Suspended) {
		t.Fatal("errors.Is(err, Suspended) = true")
	}
	if !errors.Is(err, base) {
		t.Fatal("cause lost")
	}
	if c, ok := CodeOf(err); !ok || c != Revoked {
		t.Fatalf("CodeOf = %q, %v", c, ok)
	}
	if _, ok := CodeOf(base); ok {
		t.Fatal("CodeOf(plain error) reported a code")
	}
	if c, ok := CodeOf(fmt.Errorf("x: %w", Expired)); !ok || c != Expired {
		t.Fatalf("CodeOf(bare code) = %q, %v", c, ok)
	}
}

func TestCodesUnique(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes {
		if seen[c] {
			t.Fatalf("duplicate code %q", c)
		}
		seen[c] = true
	}
	if len(Codes) != 18 {
		t.Fatalf("contract has 18 codes, have %d", len(Codes))
	}
}
