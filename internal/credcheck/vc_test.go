package credcheck_test

import (
	"testing"

	"github.com/agentid/agentid/internal/credcheck"
	"github.com/agentid/agentid/vc"
)

// TestMatchesVC checks that credcheck agrees with the public vc names it
// stands in for: the base context, and Claims with the same fields (the
// conversion fails to compile otherwise) carried over unchanged.
func TestMatchesVC(t *testing.T) {
	if credcheck.ContextV2 != vc.ContextV2 {
		t.Fatalf("ContextV2 %q, vc.ContextV2 %q", credcheck.ContextV2, vc.ContextV2)
	}
	in := vc.Claims{Iss: "a", Sub: "b", Jti: "c", Iat: 1, Exp: 2, Nbf: 3}
	got := *(*credcheck.Claims)(&in)
	want := credcheck.Claims{Iss: "a", Sub: "b", Jti: "c", Iat: 1, Exp: 2, Nbf: 3}
	if got != want {
		t.Fatalf("converted claims %+v, want %+v", got, want)
	}
}
