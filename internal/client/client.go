// Package client is the HTTP client the CLI and the examples use to call
// an agentid issuer: it loads key files and signs one request presentation
// per call (aud = server URL, htm/htu bound to the request, fresh jti).
package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
)

// Key is a private key loaded from a JWK file with its DID.
type Key struct {
	DID    string
	Signer *vc.KeySigner
}

// LoadKey reads a private JWK file (as written by `agentid did keygen`).
func LoadKey(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 16<<10 {
		return nil, fmt.Errorf("%s: not a key file (too large)", path)
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(b, &jwk); err != nil {
		return nil, fmt.Errorf("%s: not a JWK: %v", path, err)
	}
	if jwk.IsPublic() {
		return nil, fmt.Errorf("%s: holds a public key; a private key is needed", path)
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported key type", path)
	}
	return KeyFromSigner(signer)
}

// KeyFromSigner wraps an Ed25519 or P-256 private key with its did:key.
func KeyFromSigner(signer crypto.Signer) (*Key, error) {
	id, err := did.KeyFromPublic(signer.Public())
	if err != nil {
		return nil, err
	}
	s, err := vc.NewKeySigner(signer, id+"#"+strings.TrimPrefix(id, "did:key:"))
	if err != nil {
		return nil, err
	}
	return &Key{DID: id, Signer: s}, nil
}

// PresentOptions describe one presentation.
type PresentOptions struct {
	Credential string // vc+jwt to envelope; empty for none
	Audience   string
	Nonce      string
	Method     string
	URL        string
	Lifetime   time.Duration // default 60 s
	Now        time.Time     // default time.Now()
}

// Present signs a vp+jwt.
func (k *Key) Present(o PresentOptions) (string, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.Lifetime == 0 {
		o.Lifetime = time.Minute
	}
	var j [16]byte
	if _, err := rand.Read(j[:]); err != nil {
		return "", err
	}
	p := &vc.Presentation{Holder: k.DID, Aud: vc.Audience{o.Audience}, Iat: now.Unix(), Exp: now.Add(o.Lifetime).Unix(),
		Jti: base64.RawURLEncoding.EncodeToString(j[:]), Nonce: o.Nonce, Htm: o.Method, Htu: o.URL}
	if o.Credential != "" {
		p.VerifiableCredential = []vc.Enveloped{vc.Envelope(o.Credential)}
	}
	return vc.SignPresentation(k.Signer, p)
}

// Client calls an agentid server.
type Client struct {
	Server string
	Key    *Key
	HTTP   *http.Client
}

// New returns a client for server authenticating with key (may be nil for
// public endpoints).
func New(server string, key *Key) *Client {
	return &Client{Server: strings.TrimSuffix(server, "/"), Key: key, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Problem is an error answer from the server (RFC 9457 with a code).
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("%s (HTTP %d)", p.Code, p.Status)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// Do sends a request with a principal presentation (when the client has a
// key) and decodes a JSON answer into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.DoAs(ctx, c.Key, "", method, path, in, out)
}

// DoAs is Do with another key and an optional credential to envelope.
func (c *Client) DoAs(ctx context.Context, key *Key, credential, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.Server + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != nil {
		htu := u
		if i := strings.IndexByte(htu, '?'); i >= 0 {
			htu = htu[:i]
		}
		tok, err := key.Present(PresentOptions{Credential: credential, Audience: c.Server, Method: method, URL: htu})
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "VP "+tok)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		p := &Problem{Status: resp.StatusCode}
		if json.Unmarshal(rb, p) != nil || p.Code == "" {
			p.Code = http.StatusText(resp.StatusCode)
		}
		return p
	}
	if out == nil {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := w.Write(rb)
		return err
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("unexpected answer from %s: %v", path, err)
	}
	return nil
}

// Nonce fetches a proof-of-control nonce.
func (c *Client) Nonce(ctx context.Context) (string, error) {
	var r struct {
		Nonce string `json:"nonce"`
	}
	if err := c.DoAs(ctx, nil, "", http.MethodGet, "/v1/nonce", nil, &r); err != nil {
		return "", err
	}
	if r.Nonce == "" {
		return "", errors.New("server returned no nonce")
	}
	return r.Nonce, nil
}

// Proof signs a proof of control by the agent over a fresh issuer nonce.
func (c *Client) Proof(ctx context.Context, agent *Key) (string, error) {
	n, err := c.Nonce(ctx)
	if err != nil {
		return "", err
	}
	return agent.Present(PresentOptions{Audience: c.Server, Nonce: n})
}

// Refresh presents the agent's current credential and returns the new one.
func (c *Client) Refresh(ctx context.Context, agent *Key, credential string, out any) error {
	return c.DoAs(ctx, agent, credential, http.MethodPost, "/v1/credentials/refresh", nil, out)
}
