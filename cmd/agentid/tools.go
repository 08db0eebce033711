package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/verifier"
)

func didCmd() *cobra.Command {
	c := &cobra.Command{Use: "did", Short: "Agent identities (did:key)"}
	var typ, out string
	kg := &cobra.Command{
		Use:   "keygen",
		Short: "Generate an agent key: writes the private JWK (0600) and prints the DID",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out FILE is required")
			}
			var kt client.KeyType
			switch typ {
			case "ed25519":
				kt = client.Ed25519
			case "p256":
				kt = client.P256
			default:
				return usagef("--type must be ed25519 or p256")
			}
			k, err := client.GenerateKey(kt)
			if err != nil {
				return err
			}
			if err := k.WriteFile(out); err != nil {
				if errors.Is(err, os.ErrExist) {
					return hintError{fmt.Errorf("%s already exists", out), []string{"keys are never overwritten; choose another --out"}}
				}
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), k.DID)
			return nil
		},
	}
	kg.Flags().StringVar(&typ, "type", "ed25519", "key type: ed25519 or p256")
	kg.Flags().StringVar(&out, "out", "", "file for the private JWK (created 0600, never overwritten)")
	c.AddCommand(kg)
	return c
}

// readFileArg reads a file argument, or the command's stdin for "-",
// trimmed; an empty file is an error.
func readFileArg(stdin io.Reader, path string) (string, error) {
	var b []byte
	var err error
	name := path
	if path == "-" {
		name = "stdin"
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return s, nil
}

func presentCmd() *cobra.Command {
	var keyFile, credFile, aud, nonce, method, url string
	c := &cobra.Command{
		Use:   "present",
		Short: "Sign a presentation (vp+jwt) of a credential with the agent's key",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if keyFile == "" || credFile == "" || aud == "" {
				return usagef("--key, --credential and --aud are required")
			}
			if (method == "") != (url == "") {
				return usagef("--method and --url go together")
			}
			k, err := client.LoadKey(keyFile)
			if err != nil {
				return err
			}
			cred, err := readFileArg(c.InOrStdin(), credFile)
			if err != nil {
				return err
			}
			tok, err := k.Present(client.PresentOptions{Credential: cred, Audience: aud, Nonce: nonce, Method: method, URL: url})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), tok)
			return nil
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "agent private key (JWK file)")
	c.Flags().StringVar(&credFile, "credential", "", "credential file (vc+jwt), or - for stdin")
	c.Flags().StringVar(&aud, "aud", "", "audience: the resource API's URL")
	c.Flags().StringVar(&nonce, "nonce", "", "the resource API's challenge, if it sent one")
	c.Flags().StringVar(&method, "method", "", "HTTP method to bind (htm)")
	c.Flags().StringVar(&url, "url", "", "HTTP URL to bind (htu)")
	return c
}

func verifyCmd() *cobra.Command {
	var aud, issuerDID, srv, nonce, method, url, sourceIP string
	var scopes []string
	var allowHTTP bool
	var dpop string
	var bearer bool
	c := &cobra.Command{
		Use:   "verify",
		Short: "Verify a presentation (or an OAuth access token, with --dpop) read from stdin; prints the result as JSON (exit 0 valid, 1 invalid)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if aud == "" {
				return usagef("--aud is required")
			}
			if issuerDID == "" && srv == "" {
				srv = os.Getenv("AGENTID_SERVER") // as the client commands take it
			}
			if (issuerDID == "") == (srv == "") {
				return usagef("give exactly one of --issuer DID (verify locally) or --server URL (ask a verifier service; default $AGENTID_SERVER)")
			}
			b, err := io.ReadAll(io.LimitReader(c.InOrStdin(), 1<<20))
			if err != nil {
				return err
			}
			tok := strings.TrimSpace(string(b))
			req := api.VerifyRequest{Presentation: tok, Audience: aud, Nonce: nonce, Method: method, URL: url, Scopes: scopes, SourceIP: sourceIP}
			var res api.VerifyResponse
			if dpop != "" || bearer || isAccessToken(tok) {
				// An OAuth access token, checked here as a resource
				// server would (token.go).
				if issuerDID == "" {
					return usagef("an access token is verified here: give --issuer, not --server")
				}
				scheme := "DPoP"
				if bearer {
					scheme = "Bearer"
				}
				if res, err = verifyTokenLocal(c.Context(), issuerDID, allowHTTP, req, scheme, dpop); err != nil {
					return err
				}
			} else if srv != "" {
				r, err := client.New(srv, nil).Verify(c.Context(), req)
				if err != nil {
					return (&conn{server: srv}).explain(err)
				}
				res = *r
			} else {
				res, err = verifyLocal(c.Context(), issuerDID, allowHTTP, req)
				if err != nil {
					return err
				}
			}
			enc := json.NewEncoder(c.OutOrStdout())
			enc.SetIndent("", "  ")
			_ = enc.Encode(res)
			if !res.Valid {
				return deniedError{}
			}
			return nil
		},
	}
	c.Flags().StringVar(&aud, "aud", "", "this resource API's audience URL")
	c.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes the request needs (comma separated)")
	c.Flags().StringVar(&issuerDID, "issuer", "", "trusted issuer DID: verify here, resolving its did:web document and status lists")
	c.Flags().StringVar(&srv, "server", "", "agentid server whose POST /v1/verify to use ($AGENTID_SERVER, when --issuer is not given)")
	c.Flags().StringVar(&nonce, "nonce", "", "expected nonce")
	c.Flags().StringVar(&method, "method", "", "request method to match htm")
	c.Flags().StringVar(&url, "url", "", "request URL to match htu")
	c.Flags().StringVar(&sourceIP, "source-ip", "", "request source address, for sourceNetworks constraints")
	c.Flags().BoolVar(&allowHTTP, "allow-http-localhost", true, "resolve did:web:localhost over plain http (development)")
	c.Flags().StringVar(&dpop, "dpop", "", "the DPoP proof sent with an access token (stdin is then the token; --method and --url are the request's)")
	c.Flags().BoolVar(&bearer, "bearer", false, "stdin is a bearer access token (not DPoP-bound)")
	return c
}

func verifyLocal(ctx context.Context, issuerDID string, allowHTTP bool, r api.VerifyRequest) (api.VerifyResponse, error) {
	v, err := verifier.ForIssuers(ctx, verifier.TrustConfig{Issuers: []string{issuerDID}, AllowHTTPLocalhost: allowHTTP})
	if err != nil {
		return api.VerifyResponse{}, usageError{err}
	}
	return api.NewVerifyResponse(v.Verify(ctx, r.Presentation, verifier.Request{Audience: r.Audience, Nonce: r.Nonce, Method: r.Method,
		URL: r.URL, Scopes: r.Scopes, SourceIP: r.SourceIP}))
}
