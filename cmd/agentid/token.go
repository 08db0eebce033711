package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/oauth"
	"github.com/agentid/agentid/verifier"
)

// tokenOutput is `agentid token --json`.
type tokenOutput struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Scope       string          `json:"scope,omitempty"`
	DPoPJKT     string          `json:"dpop_jkt,omitempty"`
	DPoPKey     json.RawMessage `json:"dpop_key,omitempty"`
}

func tokenCmd() *cobra.Command {
	var srv, keyFile, dpopKeyFile string
	var scopes, resources []string
	var asJSON, bearer bool
	c := &cobra.Command{
		Use:   "token",
		Short: "Get an OAuth access token for an agent (private_key_jwt, DPoP-bound); prints the token and its DPoP private key",
		Long: `Get an OAuth access token from the issuer's token endpoint: client_credentials,
authenticated by a private_key_jwt assertion signed by the agent's key, bound
by DPoP (RFC 9449) to a fresh Ed25519 key (or --dpop-key). Prints the token
on the first line and the DPoP private key (JWK) on the second; with --json,
one object. Every request with the token needs a DPoP proof signed by that
key (see docs/oauth.md).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if keyFile == "" {
				return usagef("--key (the agent's private key) is required")
			}
			agent, err := client.LoadKey(keyFile)
			if err != nil {
				return err
			}
			opts := client.TokenOptions{Scopes: scopes, Resources: resources, Bearer: bearer}
			var jwk []byte
			switch {
			case bearer:
			case dpopKeyFile != "":
				k, err := client.LoadKey(dpopKeyFile)
				if err != nil {
					return err
				}
				opts.DPoPKey = k.PrivateKey()
			default:
				_, priv, err := ed25519.GenerateKey(rand.Reader)
				if err != nil {
					return err
				}
				opts.DPoPKey = priv
				if jwk, err = json.Marshal(jose.JSONWebKey{Key: priv}); err != nil {
					return err
				}
			}
			tok, err := client.New(srv, nil).Token(c.Context(), agent, opts)
			if err != nil {
				var ue *url.Error
				if errors.As(err, &ue) {
					return hintError{err, []string{"is 'agentid serve' running at " + srv + "?"}}
				}
				return err
			}
			out := tokenOutput{AccessToken: tok.AccessToken, TokenType: tok.Type, ExpiresAt: tok.ExpiresAt.UTC().Truncate(time.Second), Scope: tok.Scope, DPoPKey: jwk}
			if tok.DPoPKey != nil {
				out.DPoPJKT, _ = oauth.Thumbprint(tok.DPoPKey.Public())
			}
			if asJSON {
				return printJSON(c.OutOrStdout(), out)
			}
			fmt.Fprintln(c.OutOrStdout(), tok.AccessToken)
			if jwk != nil {
				fmt.Fprintln(c.OutOrStdout(), string(jwk))
			}
			fmt.Fprintf(c.ErrOrStderr(), "agentid: %s token for %s, scope %q, expires %s", printable(tok.Type), agent.DID, tok.Scope, ts(out.ExpiresAt))
			if out.DPoPJKT != "" {
				fmt.Fprintf(c.ErrOrStderr(), ", bound to DPoP key %s", out.DPoPJKT)
			}
			fmt.Fprintln(c.ErrOrStderr())
			return nil
		},
	}
	c.Flags().StringVar(&srv, "server", envOr("AGENTID_SERVER", "http://localhost:8080"), "agentid server URL, the authorization server ($AGENTID_SERVER)")
	c.Flags().StringVar(&keyFile, "key", "", "the agent's private key (JWK file): signs the client assertion")
	c.Flags().StringSliceVar(&scopes, "scope", nil, "scopes to ask (comma separated; default: all of the credential's)")
	c.Flags().StringSliceVar(&resources, "resource", nil, "the resource(s) the token is for (RFC 8707; default: the credential's only audience)")
	c.Flags().StringVar(&dpopKeyFile, "dpop-key", "", "bind the token to this key (JWK file) instead of a fresh one; it is then not printed")
	c.Flags().BoolVar(&bearer, "bearer", false, "ask for a bearer token (no DPoP): only for resources the issuer serves with --oauth-bearer-resource")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return c
}

// isAccessToken reports whether tok is an at+jwt (not a presentation).
func isAccessToken(tok string) bool {
	t, _, err := oauth.ParseAccessToken(tok)
	return err == nil && t != nil
}

// verifyTokenLocal verifies an OAuth access token with its DPoP proof as a
// resource server would.
func verifyTokenLocal(ctx context.Context, issuerDID string, allowHTTP bool, r api.VerifyRequest, scheme, proof string) (api.VerifyResponse, error) {
	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{Issuers: []string{issuerDID}, AllowHTTPLocalhost: allowHTTP},
		verifier.WithAudience(r.Audience))
	if err != nil {
		return api.VerifyResponse{}, usageError{err}
	}
	if scheme == "Bearer" {
		if v, err = verifier.ForIssuers(ctx, verifier.TrustConfig{Issuers: []string{issuerDID}, AllowHTTPLocalhost: allowHTTP},
			verifier.WithAudience(r.Audience), verifier.WithBearerTokens()); err != nil {
			return api.VerifyResponse{}, usageError{err}
		}
	}
	return api.NewVerifyResponse(v.VerifyAccessToken(ctx, verifier.AccessCredential{Scheme: scheme, Token: r.Presentation, Proof: proof},
		verifier.Request{Audience: r.Audience, Method: r.Method, URL: r.URL, Scopes: r.Scopes, SourceIP: r.SourceIP}))
}
