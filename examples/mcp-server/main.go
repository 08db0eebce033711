// Command mcp-server is an MCP server (the official Go SDK, streamable
// HTTP) whose tools are open only to AI agents holding an agentid
// credential, through the OAuth face of the agentid issuer, as the MCP
// authorization specification asks:
//
//   - A request without a token is answered 401 with
//     "WWW-Authenticate: DPoP …, resource_metadata=…" and a Bearer
//     challenge naming the same metadata (the TypeScript SDK reads only
//     that one).
//   - The protected resource metadata (RFC 9728) is served at
//     /.well-known/oauth-protected-resource/mcp (and at the root
//     well-known URL); it names the issuer as the authorization server.
//   - Every request must carry "Authorization: DPoP <at+jwt>" and a DPoP
//     proof signed by the key the token is bound to; the token is checked
//     offline (issuer key, aud = this server, exp, the credential's status
//     bits, followed live through the issuer's change feed).
//   - Each tool needs a scope: list_events calendar:read, add_event
//     calendar:write.
//
// With --allow-bearer the server also takes bearer tokens (no DPoP), for
// MCP hosts that cannot do DPoP; the issuer must be started with the same
// resource in --oauth-bearer-resource. What that costs is in
// examples/README.md.
//
//	go run ./examples/mcp-server
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/verifier"
	"github.com/agentid/agentid/verifier/middleware"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9091", "listen address")
	resource := flag.String("resource", "http://localhost:9091/mcp", "this MCP server's URL: the resource tokens must name (aud)")
	issuerURL := flag.String("issuer-url", "http://localhost:8080", "the agentid issuer, this server's authorization server")
	events := flag.String("status-events", "http://localhost:8080/v1/status/events", "the issuer's status change feed (empty: rely on the lists' ttl)")
	allowHTTP := flag.Bool("allow-http-localhost", true, "resolve did:web:localhost over plain http (development)")
	allowBearer := flag.Bool("allow-bearer", false, "also accept bearer tokens (no DPoP) for hosts that cannot do DPoP")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mcp-server: bad usage: no arguments expected")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*addr, *resource, *issuerURL, *events, *allowHTTP, *allowBearer); err != nil {
		fmt.Fprintf(os.Stderr, "mcp-server: error: %v\n", err)
		os.Exit(1)
	}
}

// Scopes of the tools.
var toolScopes = map[string]string{"list_events": "calendar:read", "add_event": "calendar:write"}

func run(addr, resource, issuerURL, events string, allowHTTP, allowBearer bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	issuerDID, err := did.WebDID(issuerURL)
	if err != nil {
		return err
	}
	trust := verifier.TrustConfig{Issuers: []string{issuerDID}, AllowHTTPLocalhost: allowHTTP}
	if events != "" {
		trust.StatusEvents = []string{events}
	}
	opts := []verifier.Option{verifier.WithAudience(resource), verifier.WithAudit(audit.JSONLines(os.Stderr))}
	if allowBearer {
		opts = append(opts, verifier.WithBearerTokens())
	}
	v, err := verifier.ForIssuers(ctx, trust, opts...)
	if err != nil {
		return err
	}
	origin := resource[:len(resource)-len(pathOf(resource))]
	// The 401's challenge asks for the least privilege, calendar:read: MCP
	// hosts request exactly the challenge's scope (else every scope the
	// metadata lists, which a read-only agent would be refused).
	mw := &middleware.Config{Verifier: v, BaseURL: origin, ResourceMetadata: middleware.MetadataURL(resource),
		ChallengeScopes: []string{"calendar:read"}}

	md := middleware.ProtectedResource(oauth.ProtectedResourceMetadata{
		Resource: resource, AuthorizationServers: []string{issuerURL}, ResourceName: "agentid calendar (MCP)",
		ScopesSupported: []string{"calendar:read", "calendar:write"}, BearerMethodsSupported: []string{"header"},
		DPoPSigningAlgValuesSupported: oauth.SigningAlgs, DPoPBoundAccessTokensRequired: !allowBearer,
	})
	mux := http.NewServeMux()
	mux.Handle("GET "+middleware.MetadataPath(resource), md)
	mux.Handle("GET /.well-known/oauth-protected-resource", md)
	mux.Handle(pathOf(resource), middleware.Require(mw)(tokenInfo(mcp.NewStreamableHTTPHandler(
		func(*http.Request) *mcp.Server { return newServer() }, nil))))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("mcp-server: listening on http://%s, resource %s, authorization server %s\n", ln.Addr(), resource, issuerURL)
	if events != "" {
		fmt.Printf("mcp-server: following status changes at %s\n", events)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// tokenInfo hands what agentid's middleware verified to the MCP SDK as its
// auth.TokenInfo (scopes, expiry, and the agent DID as the user, to which
// the SDK binds the session). The SDK's RequireBearerToken is only the
// carrier: it is given the verified result, never the token to check.
func tokenInfo(next http.Handler) http.Handler {
	verified := func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		res, ok := middleware.FromContext(r.Context())
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: res.Scopes, Expiration: res.ExpiresAt, UserID: res.Agent}, nil
	}
	carrier := auth.RequireBearerToken(verified, nil)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer verified-by-agentid")
		carrier.ServeHTTP(w, r)
	})
}

// allowed checks a tool's scope against the token's.
func allowed(req *mcp.CallToolRequest, tool string) error {
	var scopes []string
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		scopes = req.Extra.TokenInfo.Scopes
	}
	if !slices.Contains(scopes, toolScopes[tool]) {
		return fmt.Errorf("insufficient_scope: %s needs %s", tool, toolScopes[tool])
	}
	return nil
}

func agentOf(req *mcp.CallToolRequest) string {
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		return req.Extra.TokenInfo.UserID
	}
	return ""
}

type calendar struct {
	mu     sync.Mutex
	events []string
}

var cal = &calendar{events: []string{"2026-11-23T09:00Z Team sync"}}

type listArgs struct{}

type addArgs struct {
	Title string `json:"title" jsonschema:"the event's title"`
	Start string `json:"start" jsonschema:"the event's start, RFC 3339"`
}

func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "agentid-calendar", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "list_events", Description: "List calendar events (scope calendar:read)"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ listArgs) (*mcp.CallToolResult, any, error) {
			if err := allowed(req, "list_events"); err != nil {
				return nil, nil, err
			}
			cal.mu.Lock()
			text := strings.Join(cal.events, "\n")
			cal.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "events for " + agentOf(req) + ":\n" + text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add_event", Description: "Add a calendar event (scope calendar:write)"},
		func(ctx context.Context, req *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			if err := allowed(req, "add_event"); err != nil {
				return nil, nil, err
			}
			cal.mu.Lock()
			cal.events = append(cal.events, in.Start+" "+in.Title)
			cal.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "added " + in.Title}}}, nil, nil
		})
	return s
}

// pathOf returns a URL's path ("/mcp").
func pathOf(u string) string {
	rest := u[strings.Index(u, "://")+3:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}
