package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/oauth"
)

// introspect posts an RFC 7662 request authenticated by caller's
// private_key_jwt.
func (ts *testServer) introspect(t *testing.T, caller *client.Key, token string) (int, oauth.Introspection, oauth.ErrorResponse) {
	t.Helper()
	a, err := caller.ClientAssertion(ts.url + issuer.IntrospectPath)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"token": {token}, "client_id": {caller.DID}, "client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {a}}
	ans := ts.postForm(t, issuer.IntrospectPath, form, nil)
	return ans.status, ans.introspection, ans.err
}

func TestOAuthIntrospectAndRevoke(t *testing.T) {
	ts := start(t, t.TempDir())
	ctx := context.Background()
	rsKey := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: rsKey.DID, Role: api.RoleResource, Name: "calendar"}); err != nil {
		t.Fatal(err)
	}
	k, iss := ts.oauthAgent(t)
	getToken := func() *client.Token {
		tok, err := client.New(ts.url, nil).Token(ctx, k, client.TokenOptions{Resources: []string{calendar}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := getToken()
	st, in, _ := ts.introspect(t, rsKey, tok.AccessToken)
	jkt, _ := oauth.Thumbprint(k.PrivateKey().Public())
	if st != http.StatusOK || !in.Active || in.Sub != k.DID || in.ClientID != k.DID || in.TokenType != "DPoP" || in.Cnf == nil || in.Cnf.JKT != jkt ||
		in.CredentialID != iss.ID || in.Scope != "calendar:read calendar:write" || in.Iss != ts.url {
		t.Fatalf("introspection: %d %+v", st, in)
	}
	// Callers: an admin may, an orchestrator or an unknown key may not.
	adminKey := ts.admin.Key()
	if st, in, _ := ts.introspect(t, adminKey, tok.AccessToken); st != 200 || !in.Active {
		t.Fatalf("admin: %d %+v", st, in)
	}
	orch := newKey(t)
	if _, err := ts.admin.AddPrincipal(ctx, api.Principal{DID: orch.DID, Role: api.RoleOrchestrator, Ceiling: []string{"calendar:*"}}); err != nil {
		t.Fatal(err)
	}
	if st, _, e := ts.introspect(t, orch, tok.AccessToken); st != 400 || e.Error != oauth.UnauthorizedClient {
		t.Fatalf("orchestrator introspecting: %d %+v", st, e)
	}
	if st, _, e := ts.introspect(t, k, tok.AccessToken); st != 401 || e.Error != oauth.InvalidClient {
		t.Fatalf("agent introspecting: %d %+v", st, e)
	}
	if st, _, e := ts.introspect(t, newKey(t), tok.AccessToken); st != 401 || e.Error != oauth.InvalidClient {
		t.Fatalf("unknown caller: %d %+v", st, e)
	}
	if st, in, _ := ts.introspect(t, rsKey, "not-a-token"); st != 200 || in.Active {
		t.Fatalf("garbage: %d %+v", st, in)
	}
	// RFC 7009 §2.1: a caller the token was not issued to (a resource
	// server, another agent) is refused and told, and the token stays.
	other, _ := ts.oauthAgent(t)
	for name, caller := range map[string]*client.Key{"resource server": rsKey, "another agent": other} {
		a, _ := caller.ClientAssertion(ts.url + issuer.RevokePath)
		ans := ts.postForm(t, issuer.RevokePath, url.Values{"token": {tok.AccessToken}, "client_id": {caller.DID},
			"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {a}}, nil)
		if ans.status != 400 || ans.err.Error != oauth.UnauthorizedClient || !strings.HasPrefix(ans.err.ErrorDescription, "holder_mismatch") {
			t.Fatalf("%s revoking the agent's token: %d %+v", name, ans.status, ans.err)
		}
		if _, in, _ := ts.introspect(t, rsKey, tok.AccessToken); !in.Active {
			t.Fatalf("%s revoked the agent's token", name)
		}
	}
	// RFC 7009: the agent revokes its token; it is inactive from then on,
	// and another token of the same credential is not.
	tok2 := getToken()
	a, _ := k.ClientAssertion(ts.url + issuer.RevokePath)
	ans := ts.postForm(t, issuer.RevokePath, url.Values{"token": {tok.AccessToken}, "client_id": {k.DID},
		"client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {a}}, nil)
	if ans.status != 200 {
		t.Fatalf("revoke: %d %+v", ans.status, ans.err)
	}
	if _, in, _ := ts.introspect(t, rsKey, tok.AccessToken); in.Active {
		t.Fatal("revoked token still active")
	}
	if _, in, _ := ts.introspect(t, rsKey, tok2.AccessToken); !in.Active {
		t.Fatal("the other token went inactive")
	}
	// The credential suspended, then revoked: inactive at once.
	if _, err := ts.admin.Suspend(ctx, iss.ID); err != nil {
		t.Fatal(err)
	}
	if _, in, _ := ts.introspect(t, rsKey, tok2.AccessToken); in.Active {
		t.Fatal("token of a suspended credential still active")
	}
	if _, err := ts.admin.Reinstate(ctx, iss.ID); err != nil {
		t.Fatal(err)
	}
	if _, in, _ := ts.introspect(t, rsKey, tok2.AccessToken); !in.Active {
		t.Fatal("token of a reinstated credential inactive")
	}
	if _, err := ts.admin.Revoke(ctx, iss.ID); err != nil {
		t.Fatal(err)
	}
	if _, in, _ := ts.introspect(t, rsKey, tok2.AccessToken); in.Active {
		t.Fatal("token of a revoked credential still active")
	}
}
