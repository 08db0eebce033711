package server

import (
	"math"
	"net/http"
	"strconv"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/issuer"
)

// TestHTTPPrincipalMaxDepthBounds: a principal's maxDepth is within
// [0, issuer.MaxDelegationDepth]; a negative or larger one is refused at
// registration with 400 invalid_request and nothing is registered. Both
// ends of the range are accepted.
func TestHTTPPrincipalMaxDepthBounds(t *testing.T) {
	ts := start(t, t.TempDir())
	for _, tc := range []struct {
		depth int
		ok    bool
	}{
		{0, true},
		{issuer.MaxDelegationDepth, true},
		{-1, false},
		{math.MinInt, false},
		{issuer.MaxDelegationDepth + 1, false},
		{math.MaxInt32, false},
		{math.MaxInt, false},
	} {
		t.Run(strconv.Itoa(tc.depth), func(t *testing.T) {
			p := api.Principal{DID: newKey(t).DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"}, MaxDepth: tc.depth}
			var got api.Principal
			err := ts.admin.Do(t.Context(), http.MethodPost, "/v1/principals", p, &got)
			if tc.ok {
				if err != nil || got.MaxDepth != tc.depth {
					t.Fatalf("maxDepth %d: %+v %v", tc.depth, got, err)
				}
				return
			}
			if statusCode(err) != http.StatusBadRequest || problemCode(err) != string(issuer.CodeInvalidRequest) {
				t.Fatalf("maxDepth %d: %v, want 400 invalid_request", tc.depth, err)
			}
			list, err := ts.admin.Principals(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range list {
				if q.DID == p.DID {
					t.Fatalf("maxDepth %d was registered: %+v", tc.depth, q)
				}
			}
		})
	}
}
