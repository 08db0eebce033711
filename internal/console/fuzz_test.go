package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzSignInToken sends arbitrary sign-in tokens: each is either a good
// link (answered 200 with a session cookie) or refused with 401 and a
// code, never a server error, and never a session otherwise.
func FuzzSignInToken(f *testing.F) {
	e := newEnv(f)
	good := e.link(e.admin)
	tok, _ := url.QueryUnescape(good[strings.Index(good, "token=")+len("token="):])
	f.Add(tok)
	f.Add(tok + "x")
	f.Add(strings.Replace(tok, ".", "..", 1))
	f.Add("")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(strings.Repeat("A", 70000))
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Fuzz(func(t *testing.T, token string) {
		resp, err := hc.Get(e.url + "/console/signin?token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		session := false
		for _, c := range resp.Cookies() {
			session = session || (c.Name == "agentid_console" && c.MaxAge > 0)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if !session {
				t.Fatal("200 without a session")
			}
		case http.StatusUnauthorized:
			if session || resp.Header.Get("X-Agentid-Code") == "" {
				t.Fatalf("refusal with a session (%v) or without a code (%q)", session, resp.Header.Get("X-Agentid-Code"))
			}
		default:
			t.Fatalf("status %d for token %q", resp.StatusCode, token)
		}
	})
}

// FuzzSessionCookie sends arbitrary session cookies: none opens a page.
func FuzzSessionCookie(f *testing.F) {
	e := newEnv(f)
	b := e.browser()
	b.signIn(e.admin)
	f.Add(b.cookie.Value[:len(b.cookie.Value)-1])
	f.Add("")
	f.Add(strings.Repeat("a", 100))
	f.Add("../../x")
	f.Fuzz(func(t *testing.T, v string) {
		if v == b.cookie.Value {
			return
		}
		req, _ := http.NewRequest(http.MethodGet, e.url+"/console/", nil)
		req.Header.Set("Cookie", "agentid_console="+v)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("cookie %q: status %d", v, resp.StatusCode)
		}
	})
}
