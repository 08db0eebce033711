// Command mcp-agent is an AI agent that calls a tool of an MCP server
// protected by agentid's OAuth face, starting from nothing but the
// server's URL and its own key, as the MCP authorization specification
// describes:
//
//  1. It calls the server without a token and gets 401 with a
//     WWW-Authenticate challenge naming the resource metadata (RFC 9728).
//  2. It reads the metadata: the resource and its authorization server.
//  3. It reads the authorization server's metadata (RFC 8414): the token
//     endpoint, private_key_jwt and the DPoP algorithms.
//  4. It gets an access token: client_credentials, authenticated by a
//     private_key_jwt assertion signed by its own key (client_id = its
//     DID), bound by DPoP to the same key, for the resource (RFC 8707).
//  5. It calls the tool over streamable HTTP with the official Go SDK,
//     every request carrying "Authorization: DPoP" and a fresh proof.
//
// With --every it keeps calling the tool with the same token, one line
// per call, and exits 1 at the first refusal: revoke the agent's
// credential meanwhile and the next call is refused, because the server
// follows the issuer's status feed.
//
//	go run ./examples/mcp-agent --key agent.jwk
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/oauth"
)

func main() {
	keyFile := flag.String("key", "agent.jwk", "the agent's private key (JWK, as `agentid did keygen` writes it)")
	server := flag.String("server", "http://localhost:9091/mcp", "the MCP server's URL")
	tool := flag.String("tool", "list_events", "the tool to call")
	args := flag.String("args", "{}", "the tool's arguments, a JSON object")
	scope := flag.String("scope", "", "scopes to ask, space-separated (default: all of the credential's)")
	every := flag.Duration("every", 0, "call the tool again at this interval until refused (0: once)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mcp-agent: bad usage: no arguments expected")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*keyFile, *server, *tool, *args, *scope, *every); err != nil {
		fmt.Fprintf(os.Stderr, "mcp-agent: error: %v\n", err)
		os.Exit(1)
	}
}

func run(keyFile, server, tool, rawArgs, scope string, every time.Duration) error {
	ctx := context.Background()
	key, err := client.LoadKey(keyFile)
	if err != nil {
		return err
	}
	var toolArgs map[string]any
	if err := json.Unmarshal([]byte(rawArgs), &toolArgs); err != nil {
		return fmt.Errorf("--args: %v", err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}

	// 1. The 401 and its challenge.
	prmURL, err := challenge(ctx, hc, server)
	if err != nil {
		return err
	}
	fmt.Printf("mcp-agent: resource metadata at %s\n", prmURL)
	// 2. The protected resource metadata.
	var prm oauth.ProtectedResourceMetadata
	if err := getJSON(ctx, hc, prmURL, &prm); err != nil {
		return err
	}
	if prm.Resource != server || len(prm.AuthorizationServers) == 0 {
		return fmt.Errorf("resource metadata names resource %q (want %q) and %d authorization servers", prm.Resource, server, len(prm.AuthorizationServers))
	}
	as := prm.AuthorizationServers[0]
	// 3. The authorization server metadata.
	var asm oauth.ServerMetadata
	if err := getJSON(ctx, hc, wellKnown(as), &asm); err != nil {
		return err
	}
	if asm.Issuer != as || !slices.Contains(asm.TokenEndpointAuthMethodsSupported, "private_key_jwt") {
		return fmt.Errorf("authorization server metadata: issuer %q (want %q), auth methods %v", asm.Issuer, as, asm.TokenEndpointAuthMethodsSupported)
	}
	fmt.Printf("mcp-agent: authorization server %s, token endpoint %s, DPoP algs %s\n", as, asm.TokenEndpoint, strings.Join(asm.DPoPSigningAlgValuesSupported, " "))
	// 4. The token: private_key_jwt + DPoP, both with the agent's own key.
	tok, err := client.New(as, nil, client.WithHTTPClient(hc)).Token(ctx, key, client.TokenOptions{
		Endpoint: asm.TokenEndpoint, Resources: []string{prm.Resource}, Scopes: strings.Fields(scope)})
	if err != nil {
		return err
	}
	jkt, _ := oauth.Thumbprint(tok.DPoPKey.Public())
	fmt.Printf("mcp-agent: %s token for %s as %s, scope %q, expires in %s, bound to key %s\n",
		tok.Type, prm.Resource, key.DID, tok.Scope, time.Until(tok.ExpiresAt).Round(time.Second), jkt)
	// 5. The tool, over streamable HTTP, every request with a DPoP proof.
	mc := mcp.NewClient(&mcp.Implementation{Name: "agentid-mcp-agent", Version: "1.0.0"}, nil)
	refusals := &refusalRecorder{next: tok.Transport(nil)}
	sess, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: server,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: refusals}, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	for n := 1; ; n++ {
		res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: toolArgs})
		if err == nil && res.IsError {
			err = errors.New(text(res))
		} else if err != nil {
			if why := refusals.last(); why != "" {
				err = fmt.Errorf("%s (%v)", why, err)
			}
		}
		if err != nil {
			if every > 0 {
				fmt.Printf("mcp-agent: call %d: refused: %v\n", n, err)
			}
			return err
		}
		if every == 0 {
			fmt.Printf("mcp-agent: %s → %s\n", tool, text(res))
			return nil
		}
		fmt.Printf("mcp-agent: call %d: ok\n", n)
		time.Sleep(every)
	}
}

var resourceMetadataRE = regexp.MustCompile(`resource_metadata="([^"]+)"`)

// challenge sends an MCP initialize without a token and returns the
// resource metadata URL of the 401's challenge, or, when no challenge
// names one, the RFC 9728 well-known URL of the server.
func challenge(ctx context.Context, hc *http.Client, server string) (string, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"agentid-mcp-agent","version":"1.0.0"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("%s answered %s without a token, want 401", server, resp.Status)
	}
	fmt.Printf("mcp-agent: POST %s without a token: %s\n", server, resp.Status)
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if m := resourceMetadataRE.FindStringSubmatch(v); m != nil {
			return m[1], nil
		}
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource" + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// wellKnown is an issuer's RFC 8414 metadata URL: the well-known segment
// between the host and the issuer's path.
func wellKnown(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return issuer
	}
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.EscapedPath(), "/")
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// text joins a tool result's text contents.
func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// refusalRecorder remembers why the server last refused a request: the
// DPoP challenge's error and the problem's reason code, which the MCP SDK's
// error does not carry.
type refusalRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	why  string
}

var (
	challengeErrorRE = regexp.MustCompile(`error="([^"]+)"`)
	problemCodeRE    = regexp.MustCompile(`"code":"([^"]+)"`)
)

func (r *refusalRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return resp, err
	}
	why := resp.Status
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if m := challengeErrorRE.FindStringSubmatch(v); m != nil && strings.HasPrefix(v, "DPoP ") {
			why = m[1]
		}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if m := problemCodeRE.FindSubmatch(b); m != nil {
		why += ": " + string(m[1])
	}
	r.mu.Lock()
	r.why = why
	r.mu.Unlock()
	return resp, nil
}

func (r *refusalRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.why
}
