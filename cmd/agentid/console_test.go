package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/internal/server"
)

// TestConsoleLink: `agentid console` prints a link that signs in once.
func TestConsoleLink(t *testing.T) {
	t.Setenv("AGENTID_MASTER_KEY", "")
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	dir := t.TempDir()
	url, _ := startServer(t, filepath.Join(dir, "data"))
	admin := filepath.Join(dir, "data", server.AdminKeyFile)

	code, out, errOut := agentid(t, "", "console", "--server", url, "--key", admin, "--no-open")
	link := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(link, url+"/console/signin?token=") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "60 s") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
		resp, err := hc.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("use %d of the link: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	// --json prints JSON (it printed the bare link), whose link works.
	code, out, _ = agentid(t, "", "console", "--json", "--server", url, "--key", admin, "--no-open")
	var j struct {
		Link, Principal string
		Expires         time.Time
	}
	if err := json.Unmarshal([]byte(out), &j); code != 0 || err != nil || !strings.HasPrefix(j.Link, url+"/console/signin?token=") ||
		!strings.HasPrefix(j.Principal, "did:key:") || time.Until(j.Expires) > time.Minute || time.Until(j.Expires) < 50*time.Second {
		t.Fatalf("console --json: exit %d, %v, stdout %q", code, err, out)
	}
	if resp, err := hc.Get(j.Link); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the --json link: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, _, errOut := agentid(t, "", "console", "--server", url, "--key", filepath.Join(dir, "nope.jwk")); code != 1 || !strings.Contains(errOut, "hint:") {
		t.Fatalf("missing key: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := agentid(t, "", "console", "extra"); code != 2 {
		t.Fatalf("extra argument: exit %d", code)
	}
}
