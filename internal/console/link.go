package console

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// SignInLink returns a one-time console sign-in link for the principal
// whose key signer holds (holder is its DID): a vp+jwt without credential,
// addressed to the console of issuerURL, bound to GET on the sign-in URL,
// valid for SignInLifetime from now, with a random jti. Anyone holding the
// link can use it once within that minute: treat it as a secret.
func SignInLink(signer jws.Signer, holder, issuerURL string, now time.Time) (string, error) {
	var j [16]byte
	if _, err := rand.Read(j[:]); err != nil {
		return "", err
	}
	p := &vc.Presentation{Holder: holder, Aud: vc.Audience{ConsoleURL(issuerURL)}, Iat: now.Unix(),
		Exp: now.Add(SignInLifetime).Unix(), Jti: base64.RawURLEncoding.EncodeToString(j[:]),
		Htm: http.MethodGet, Htu: SignInURL(issuerURL)}
	tok, err := vc.SignPresentation(signer, p)
	if err != nil {
		return "", fmt.Errorf("console: signing the sign-in link: %w", err)
	}
	return SignInURL(issuerURL) + "?token=" + url.QueryEscape(tok), nil
}
