package client

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agentid/agentid/oauth"
)

// PrivateKey returns the key as a crypto.Signer, to sign DPoP
// proofs with the agent's own key.
func (k *Key) PrivateKey() crypto.Signer { return k.priv }

// ClientAssertion signs a private_key_jwt client assertion (RFC 7523) for
// the key's DID, addressed to aud (the token endpoint or the issuer URL).
func (k *Key) ClientAssertion(aud string) (string, error) {
	return oauth.NewClientAssertion(k.Signer, k.DID, aud, time.Now())
}

// TokenOptions describe a token request.
type TokenOptions struct {
	// Scopes asked (none: every scope of the credential).
	Scopes []string
	// Resources asked (RFC 8707); none: the credential's only audience.
	Resources []string
	// DPoPKey is the key the token is bound to (nil: the agent's own key).
	DPoPKey crypto.Signer
	// Bearer asks for a bearer token (no DPoP proof), which the issuer
	// grants only for resources configured to take them.
	Bearer bool
	// SubjectToken, when set, makes the request a token exchange (RFC
	// 8693) of this vp+jwt instead of client_credentials.
	SubjectToken string
	// Endpoint is the token endpoint, as the authorization server's
	// metadata names it (default: the client's server + /oauth/token).
	Endpoint string
}

// Token is an access token and what is needed to use it.
type Token struct {
	AccessToken string
	// Type is "DPoP" or "Bearer".
	Type      string
	Scope     string
	ExpiresAt time.Time
	// DPoPKey signs the proofs of requests with the token (nil for a
	// bearer token).
	DPoPKey crypto.Signer

	mu    sync.Mutex
	nonce string
}

// OAuthError is an OAuth error answer (RFC 6749 §5.2).
type OAuthError struct {
	StatusCode  int
	Code        oauth.ErrorCode
	Description string
	// Nonce is the DPoP-Nonce the server sent with it, if any.
	Nonce string
}

func (e *OAuthError) Error() string {
	s := fmt.Sprintf("oauth: %d %s", e.StatusCode, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Is matches the OAuth error code: errors.Is(err, oauth.InvalidScope).
func (e *OAuthError) Is(target error) bool {
	c, ok := target.(oauth.ErrorCode)
	return ok && c == e.Code
}

// Token gets an access token for agent from the server's token endpoint:
// client_credentials with a private_key_jwt assertion signed by the
// agent's key, and a DPoP proof (unless o.Bearer). A use_dpop_nonce
// answer is retried once with the server's nonce.
func (c *Client) Token(ctx context.Context, agent *Key, o TokenOptions) (*Token, error) {
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = c.server + "/oauth/token"
	}
	dk := o.DPoPKey
	if dk == nil && !o.Bearer {
		dk = agent.priv
	}
	nonce := ""
	for attempt := 0; ; attempt++ {
		form := url.Values{}
		if o.SubjectToken != "" {
			form.Set("grant_type", oauth.GrantTokenExchange)
			form.Set("subject_token", o.SubjectToken)
			form.Set("subject_token_type", oauth.TokenTypeVP)
		} else {
			a, err := agent.ClientAssertion(endpoint)
			if err != nil {
				return nil, err
			}
			form.Set("grant_type", oauth.GrantClientCredentials)
			form.Set("client_id", agent.DID)
			form.Set("client_assertion_type", oauth.ClientAssertionType)
			form.Set("client_assertion", a)
		}
		if len(o.Scopes) > 0 {
			form.Set("scope", strings.Join(o.Scopes, " "))
		}
		for _, r := range o.Resources {
			form.Add("resource", r)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if dk != nil {
			p, err := oauth.NewProof(dk, oauth.ProofOptions{Method: http.MethodPost, URL: endpoint, Nonce: nonce})
			if err != nil {
				return nil, err
			}
			req.Header.Set("DPoP", p)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		if resp.StatusCode != http.StatusOK {
			e := &OAuthError{StatusCode: resp.StatusCode, Nonce: resp.Header.Get("DPoP-Nonce")}
			var er oauth.ErrorResponse
			if json.Unmarshal(body, &er) == nil && er.Error != "" {
				e.Code, e.Description = er.Error, er.ErrorDescription
			} else {
				e.Code = oauth.ErrorCode(http.StatusText(resp.StatusCode))
			}
			if e.Code == oauth.UseDPoPNonce && e.Nonce != "" && attempt == 0 && dk != nil {
				nonce = e.Nonce
				continue
			}
			return nil, e
		}
		var tr oauth.TokenResponse
		if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
			return nil, fmt.Errorf("client: token response: %v", err)
		}
		t := &Token{AccessToken: tr.AccessToken, Type: tr.TokenType, Scope: tr.Scope,
			ExpiresAt: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}
		if strings.EqualFold(tr.TokenType, "DPoP") {
			t.DPoPKey = dk
		}
		return t, nil
	}
}

// Authorize sets a request's Authorization header (and, for a DPoP token,
// a fresh DPoP proof bound to its method, URL and the token).
func (t *Token) Authorize(req *http.Request) error {
	if t.DPoPKey == nil {
		req.Header.Set("Authorization", "Bearer "+t.AccessToken)
		return nil
	}
	t.mu.Lock()
	nonce := t.nonce
	t.mu.Unlock()
	p, err := oauth.NewProof(t.DPoPKey, oauth.ProofOptions{Method: req.Method, URL: req.URL.String(), AccessToken: t.AccessToken, Nonce: nonce})
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "DPoP "+t.AccessToken)
	req.Header.Set("DPoP", p)
	return nil
}

// Transport returns an http.RoundTripper that authorizes every request
// with the token through base (nil: http.DefaultTransport), remembering
// the DPoP-Nonce a resource server sends and retrying a request refused
// with use_dpop_nonce once, when its body can be replayed.
func (t *Token) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &tokenTransport{t: t, base: base}
}

type tokenTransport struct {
	t    *Token
	base http.RoundTripper
}

func (tt *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r := req.Clone(req.Context())
		if attempt > 0 && req.GetBody != nil {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = b
		}
		if err := tt.t.Authorize(r); err != nil {
			return nil, err
		}
		resp, err := tt.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" && tt.t.DPoPKey != nil {
			tt.t.mu.Lock()
			tt.t.nonce = n
			tt.t.mu.Unlock()
			if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && (req.Body == nil || req.GetBody != nil) &&
				strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), "\n"), `error="use_dpop_nonce"`) {
				resp.Body.Close()
				continue
			}
		}
		return resp, nil
	}
}
