package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
)

// TestOAuthGrantCacheFollowsRecords: the token endpoint's cache of decoded
// agent and credential records is keyed on their stored bytes, so a
// change of state after a grant is seen by the very next request:
// suspended, reinstated, revoked, retired.
func TestOAuthGrantCacheFollowsRecords(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	k, iss := ts.oauthAgent(t)
	token := func() tokenAnswer {
		return ts.postForm(t, issuer.TokenPath, ts.tokenForm(t, k), map[string]string{"DPoP": proof(t, k.PrivateKey(), http.MethodPost, ts.tokenURL(), "")})
	}
	wantGranted := func(step string) {
		t.Helper()
		if a := token(); a.status != http.StatusOK {
			t.Fatalf("%s: %d %+v, want a token", step, a.status, a.err)
		}
	}
	wantRefused := func(step, reason string) {
		t.Helper()
		if a := token(); a.status != http.StatusBadRequest || a.err.Error != oauth.InvalidGrant || !strings.HasPrefix(a.err.ErrorDescription, reason) {
			t.Fatalf("%s: %d %+v, want invalid_grant (%s)", step, a.status, a.err, reason)
		}
	}
	wantGranted("first")
	wantGranted("second (from the cache)")
	if _, err := ts.admin.Suspend(ctx, iss.ID); err != nil {
		t.Fatal(err)
	}
	wantRefused("after suspend", "suspended")
	if _, err := ts.admin.Reinstate(ctx, iss.ID); err != nil {
		t.Fatal(err)
	}
	wantGranted("after reinstate")
	if _, err := ts.admin.Revoke(ctx, iss.ID); err != nil {
		t.Fatal(err)
	}
	wantRefused("after revoke", "revoked")

	k2, _ := ts.oauthAgent(t)
	k = k2
	wantGranted("second agent")
	if _, err := ts.admin.Retire(ctx, k.DID); err != nil {
		t.Fatal(err)
	}
	if a := token(); a.status == http.StatusOK {
		t.Fatalf("after retire: granted; want a refusal")
	}
}
