package server

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/netutil"

	"github.com/agentid/agentid/api"
)

// FloorPath is the route TestHTTPFloorServe adds: a POST handler that
// reads the body and answers a fixed valid verification, on the service's
// own gin engine (recovery, request ids, body limit, metrics).
const floorPath = "/v1/floor"

// TestHTTPFloorServe serves the full service, with the trivial floorPath
// beside it, on AGENTID_HTTP_FLOOR_ADDR (such as 127.0.0.1:18090) with
// serve's runtime settings, until interrupted. It measures the HTTP floor
// of POST /v1/verify: the server CPU a request costs with no verification
// at all, loaded by the same client with the same bodies:
//
//	AGENTID_HTTP_FLOOR_ADDR=127.0.0.1:18090 go test ./internal/server -run HTTPFloorServe -v -timeout 30m &
//	agentid-httpload -server http://localhost:18090 -key $DIR/admin.jwk -path /v1/floor -server-pid $(pgrep server.test)
//
// $DIR is printed at start. Skipped without the variable.
func TestHTTPFloorServe(t *testing.T) {
	addr := os.Getenv("AGENTID_HTTP_FLOOR_ADDR")
	if addr == "" {
		t.Skip("AGENTID_HTTP_FLOOR_ADDR is not set")
	}
	_, restore := TuneRuntime()
	defer restore()
	dir := t.TempDir()
	ts, s := serveTest(t, addr, Config{DataDir: dir}, nil)
	// The real server above serves on its own listener; the floor serves
	// the same engine through serve's http.Server settings and
	// connection limit.
	ts.srv.Close()
	ln, err := net.Listen("tcp", addr) // serveTest's, closed just now
	if err != nil {
		t.Fatal(err)
	}
	ln = netutil.LimitListener(ln, defaultFloorConns)
	exp := time.Now().Add(time.Hour).UTC()
	out := api.VerifyResponse{Valid: true, Agent: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		Issuer: ts.app.Issuer.DID(), Scopes: []string{"calendar:read"}, Owner: "httpload",
		CredentialID: "urn:uuid:526b4df8-da4f-4780-8c88-7306815ba557", ExpiresAt: &exp,
		DelegatedBy: "did:key:z6MkfwYymrP4xywMxSX1XXbFyCjZEo4ifd4n72QWmrqGypBt"}
	s.engine.POST(floorPath, func(c *gin.Context) {
		if _, err := io.ReadAll(c.Request.Body); err != nil {
			c.Status(http.StatusBadRequest)
			return
		}
		c.JSON(http.StatusOK, out)
	})
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	go hs.Serve(ln)
	defer hs.Close()
	t.Logf("serving %s with the floor at %s; admin key %s/%s; pid %d", ts.url, floorPath, dir, AdminKeyFile, os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// defaultFloorConns is serve's default --max-conns.
const defaultFloorConns = 4096
