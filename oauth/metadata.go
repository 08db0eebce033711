package oauth

// ServerMetadata is an authorization server's metadata (RFC 8414 §2), as
// agentid serves it at /.well-known/oauth-authorization-server.
type ServerMetadata struct {
	Issuer                string `json:"issuer"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint    string `json:"revocation_endpoint,omitempty"`
	// AuthorizationEndpoint and ResponseTypesSupported are REQUIRED by RFC
	// 8414 unless no grant uses the authorization endpoint; agentid has
	// none, but the MCP TypeScript SDK refuses metadata without them. See
	// docs/oauth.md.
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	// The signing algorithms of the introspection and revocation
	// endpoints: RFC 8414 §2 makes each required when its endpoint's auth
	// methods name private_key_jwt.
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	ScopesSupported                                    []string `json:"scopes_supported,omitempty"`
	DPoPSigningAlgValuesSupported                      []string `json:"dpop_signing_alg_values_supported"`
	// CodeChallengeMethodsSupported is for clients that check it; there is
	// no authorization code grant.
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	// DID is agentid's: the issuer's did:web, whose keys sign the tokens.
	DID string `json:"agentid_did,omitempty"`
}

// ProtectedResourceMetadata is a resource server's metadata (RFC 9728
// §2), served at /.well-known/oauth-protected-resource.
type ProtectedResourceMetadata struct {
	Resource                          string   `json:"resource"`
	AuthorizationServers              []string `json:"authorization_servers"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported            []string `json:"bearer_methods_supported,omitempty"`
	DPoPSigningAlgValuesSupported     []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired     bool     `json:"dpop_bound_access_tokens_required"`
	ResourceName                      string   `json:"resource_name,omitempty"`
	ResourceSigningAlgValuesSupported []string `json:"resource_signing_alg_values_supported,omitempty"`
}

// SigningAlgs are the JWS algorithms agentid signs and accepts.
var SigningAlgs = []string{"EdDSA", "ES256"}

// TokenResponse is a successful token response (RFC 6749 §5.1, RFC 8693
// §2.2.1).
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// Introspection is an introspection response (RFC 7662 §2.2).
type Introspection struct {
	Active    bool          `json:"active"`
	Scope     string        `json:"scope,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	TokenType string        `json:"token_type,omitempty"`
	Exp       int64         `json:"exp,omitempty"`
	Iat       int64         `json:"iat,omitempty"`
	Sub       string        `json:"sub,omitempty"`
	Aud       []string      `json:"aud,omitempty"`
	Iss       string        `json:"iss,omitempty"`
	Jti       string        `json:"jti,omitempty"`
	Cnf       *Confirmation `json:"cnf,omitempty"`
	// CredentialID is agentid's: the credential the token derives from.
	CredentialID string `json:"credential_id,omitempty"`
	// Act is the token's act claim (RFC 8693 §4.1 lets introspection
	// answer it): a sub-agent's chain of actors.
	Act *Actor `json:"act,omitempty"`
}

// JWKS is a JSON Web Key Set (RFC 7517 §5) of public keys.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK is one public key of a JWKS, with its kid (the DID URL that signed
// tokens name), use and alg.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}
