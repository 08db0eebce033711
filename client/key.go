package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
)

// maxKeyFile bounds a key file read by LoadKey.
const maxKeyFile = 16 << 10

// Key is a private key with its did:key.
type Key struct {
	// DID is the did:key of the public key.
	DID string
	// Signer signs JWS with the key; its kid is the DID's key URL.
	Signer *vc.KeySigner

	priv crypto.Signer
}

// KeyType names a kind of key for GenerateKey.
type KeyType string

// Key types.
const (
	Ed25519 KeyType = "ed25519"
	P256    KeyType = "p256"
)

// GenerateKey makes a new private key of type t.
func GenerateKey(t KeyType) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch t {
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case P256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("client: unknown key type %q (want %q or %q)", t, Ed25519, P256)
	}
	if err != nil {
		return nil, fmt.Errorf("client: generating a key: %w", err)
	}
	return KeyFromSigner(priv)
}

// ErrInsecureKeyFile is wrapped by LoadKey's error for a key file that
// group or others may read or write.
var ErrInsecureKeyFile = errors.New("client: private key file is accessible by group or others")

// LoadKey reads a private JWK file (as written by Key.WriteFile or
// `agentid did keygen`). The file must be a regular file that neither
// group nor others can access (mode 0600 or stricter), else the error
// wraps [ErrInsecureKeyFile] and names the file and the fix; on Windows
// the mode is not checked.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a key file (not a regular file)", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600 (chmod 600 %s)", ErrInsecureKeyFile, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
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
	return &Key{DID: id, Signer: s, priv: signer}, nil
}

// WriteFile writes the private key to path as a JWK whose kid is the
// DID's key URL, with mode 0600. It never overwrites: if path exists, the
// error satisfies errors.Is(err, fs.ErrExist). The key must be an
// in-memory Ed25519 or ECDSA key (not an opaque signer).
func (k *Key) WriteFile(path string) error {
	switch k.priv.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey:
	default:
		return fmt.Errorf("client: a %T key cannot be written to a file", k.priv)
	}
	jwk := jose.JSONWebKey{Key: k.priv, KeyID: k.DID + "#" + strings.TrimPrefix(k.DID, "did:key:")}
	b, err := json.MarshalIndent(jwk, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encoding the key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PresentOptions describe one presentation.
type PresentOptions struct {
	Credential string // vc+jwt to envelope; empty for none
	Audience   string
	Nonce      string
	Method     string // htm, with URL; empty for none
	URL        string // htu: the request URL without query
	// BodyDigest is the htd claim (an agentid extension binding the request
	// body): see [BodyDigest]. Empty for none.
	BodyDigest string
	// For is the "for" claim of a proof of control (an agentid extension):
	// the DID of the principal that will register the agent.
	For      string
	Lifetime time.Duration // default 60 s
	Now      time.Time     // default time.Now()
}

// BodyDigest is the htd claim for a request body: the unpadded base64url
// SHA-256 of its exact bytes (of the empty string for no body).
func BodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Present signs a vp+jwt with a fresh random jti.
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
		Jti: base64.RawURLEncoding.EncodeToString(j[:]), Nonce: o.Nonce, Htm: o.Method, Htu: o.URL,
		Htd: o.BodyDigest, For: o.For}
	if o.Credential != "" {
		p.VerifiableCredential = []vc.Enveloped{vc.Envelope(o.Credential)}
	}
	return vc.SignPresentation(k.Signer, p)
}
