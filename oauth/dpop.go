package oauth

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/internal/base64url"
	"github.com/agentid/agentid/internal/strictjson"
	"github.com/agentid/agentid/internal/zerocopy"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// DPoP proof limits.
const (
	// ProofType is the typ of a DPoP proof (RFC 9449 §4.2).
	ProofType = "dpop+jwt"
	// MaxProofSize bounds a DPoP proof, in bytes: an ES256 proof with a
	// long URL and an access token hash is well under 2 KiB.
	MaxProofSize = 8 << 10
	// DefaultProofMaxAge is how old a proof's iat may be (beyond the skew).
	DefaultProofMaxAge = 60 * time.Second
	// DefaultSkew is the clock skew allowed on iat either way.
	DefaultSkew = 60 * time.Second
)

// ProofOptions say what a DPoP proof is for.
type ProofOptions struct {
	// Method and URL are the request's (htm, htu); the URL's query and
	// fragment are dropped.
	Method, URL string
	// AccessToken, when set, is bound by its hash (ath): set it on every
	// request to a resource server.
	AccessToken string
	// Nonce is the server's latest DPoP-Nonce, if it sent one.
	Nonce string
	// Now is the clock reading (zero: time.Now).
	Now time.Time
}

// proofHeader is a DPoP proof's protected header.
type proofHeader struct {
	Typ string          `json:"typ"`
	Alg string          `json:"alg"`
	JWK json.RawMessage `json:"jwk"`
	// Members that would make the key ambiguous or the header
	// uninterpretable.
	Kid  json.RawMessage `json:"kid,omitempty"`
	X5C  json.RawMessage `json:"x5c,omitempty"`
	JKU  json.RawMessage `json:"jku,omitempty"`
	X5U  json.RawMessage `json:"x5u,omitempty"`
	Crit json.RawMessage `json:"crit,omitempty"`
	B64  json.RawMessage `json:"b64,omitempty"`
}

// ProofClaims are a DPoP proof's claims (RFC 9449 §4.2).
type ProofClaims struct {
	Jti   string `json:"jti"`
	Htm   string `json:"htm"`
	Htu   string `json:"htu"`
	Iat   int64  `json:"iat"`
	Ath   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

var (
	proofHeaderNames = strictjson.NewVocab(proofHeader{})
	proofClaimNames  = strictjson.NewVocab(ProofClaims{})
)

// NewProof signs a DPoP proof with key (Ed25519: EdDSA; P-256: ES256),
// carrying its public JWK, a fresh random jti, and the request's method
// and URL.
func NewProof(key crypto.Signer, o ProofOptions) (string, error) {
	s, err := vc.NewKeySigner(key, "")
	if err != nil {
		return "", fmt.Errorf("oauth: DPoP key: %w", err)
	}
	jwk, err := did.PublicJWK(key.Public())
	if err != nil {
		return "", fmt.Errorf("oauth: DPoP key: %w", err)
	}
	jwkJSON, _ := json.Marshal(jwk)
	hdr, _ := json.Marshal(proofHeader{Typ: ProofType, Alg: s.Alg(), JWK: jwkJSON})
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	htu, err := StripQuery(o.URL)
	if err != nil {
		return "", err
	}
	c := ProofClaims{Jti: randomID(), Htm: o.Method, Htu: htu, Iat: now.Unix(), Nonce: o.Nonce}
	if o.AccessToken != "" {
		c.Ath = AccessTokenHash(o.AccessToken)
	}
	payload, _ := json.Marshal(c)
	input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
	sig, err := s.Sign([]byte(input))
	if err != nil {
		return "", fmt.Errorf("oauth: DPoP sign: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// AccessTokenHash is the ath of a DPoP proof for an access token: the
// unpadded base64url SHA-256 of its ASCII bytes.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}

// athMatches reports, in constant time, whether ath is AccessTokenHash(token),
// without allocating.
func athMatches(ath, token string) bool {
	sum := sha256.Sum256(zerocopy.Bytes(token)) // read only
	var want [43]byte
	b64.Encode(want[:], sum[:])
	return subtle.ConstantTimeCompare([]byte(ath), want[:]) == 1
}

// NonceChecker accepts or refuses a DPoP nonce. *Nonces implements it.
type NonceChecker interface {
	Valid(nonce string, now time.Time) bool
}

// ProofCheck is what a DPoP proof is checked against.
type ProofCheck struct {
	// Method and URL are the request's; URL is its absolute URL as the
	// server is reached (query and fragment are ignored).
	Method, URL string
	// AccessToken, when the request carries one, must be bound by ath.
	AccessToken string
	// Nonces, when set, requires a nonce it accepts (else use_dpop_nonce).
	Nonces NonceChecker
	// Now is the clock reading (zero: time.Now).
	Now time.Time
	// MaxAge and Skew bound iat: not older than MaxAge+Skew, not newer
	// than Skew (DefaultProofMaxAge and DefaultSkew when zero).
	MaxAge, Skew time.Duration
}

// Proof is a DPoP proof that passed CheckProof.
type Proof struct {
	// JKT is the RFC 7638 thumbprint of the proof's key.
	JKT    string
	Public crypto.PublicKey
	Claims ProofClaims
	// Expires is when the proof's iat leaves the accepted window: its jti
	// must be remembered until then.
	Expires time.Time
	// holder is replayPrefix + JKT, made with it in one allocation.
	holder string
}

// replayPrefix makes a DPoP key's holder name in a ReplayCache.
const replayPrefix = "dpop:"

// ReplayCache records single-use identifiers until they expire.
// verifier.MemoryReplayCache implements it; any error refuses the proof.
type ReplayCache interface {
	Record(holder, jti string, exp, now time.Time) error
}

// Commit records the proof's jti (under its key) in c: the last step of a
// check that passed. A proof seen before fails with invalid_dpop_proof
// and reason replayed.
func (p *Proof) Commit(c ReplayCache, now time.Time) error {
	if c == nil {
		return Errorf(ServerError, "", "no DPoP replay cache")
	}
	holder := p.holder
	if holder == "" {
		holder = replayPrefix + p.JKT
	}
	if err := c.Record(holder, p.Claims.Jti, p.Expires, now); err != nil {
		return &Error{Code: InvalidDPoPProof, Reason: reason.Replayed, Description: "DPoP proof was already used", Err: err}
	}
	return nil
}

func badProof(r reason.Code, description string) *Error {
	return Errorf(InvalidDPoPProof, r, description)
}

// CheckProof checks a DPoP proof as RFC 9449 §4.3 says, every step but
// the last: it does not record the jti (see [Proof.Commit]), because
// anyone can mint a key, so the caller records it only once the rest of
// the request is known to be good. Refusals are *Error with code
// invalid_dpop_proof (or use_dpop_nonce) and the reason of the step that
// failed.
func CheckProof(proof string, c ProofCheck) (*Proof, error) {
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}
	maxAge, skew := c.MaxAge, c.Skew
	if maxAge <= 0 {
		maxAge = DefaultProofMaxAge
	}
	if skew <= 0 {
		skew = DefaultSkew
	}
	if proof == "" {
		return nil, badProof(reason.Malformed, "missing DPoP proof")
	}
	if len(proof) > MaxProofSize {
		return nil, badProof(reason.Malformed, "DPoP proof is too large")
	}
	i := strings.IndexByte(proof, '.')
	if i < 0 {
		return nil, badProof(reason.Malformed, "DPoP proof is not a compact JWS")
	}
	j := strings.IndexByte(proof[i+1:], '.')
	if j < 0 || strings.IndexByte(proof[i+1+j+1:], '.') >= 0 {
		return nil, badProof(reason.Malformed, "DPoP proof is not a compact JWS")
	}
	j += i + 1
	// The three segments are decoded straight from the string into one
	// buffer that nothing outside this function sees as bytes and that is
	// not written after decoding, so that the header and claims are
	// scanned in place (zerocopy.String) and the claims' strings share it.
	hs, ps, ss := proof[:i], proof[i+1:j], proof[j+1:]
	buf := make([]byte, base64url.DecodedLen(len(hs))+base64url.DecodedLen(len(ps))+base64url.DecodedLen(len(ss)))
	hn, err1 := base64url.Decode(buf, hs)
	pn, err2 := base64url.Decode(buf[hn:], ps)
	sn, err3 := base64url.Decode(buf[hn+pn:], ss)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, badProof(reason.Malformed, "DPoP proof is not base64url")
	}
	hb, pb, sig := buf[:hn:hn], buf[hn:hn+pn:hn+pn], buf[hn+pn:hn+pn+sn:hn+pn+sn]
	var h proofHeader
	jwk, fast := fastDecodeProofHeader(zerocopy.String(hb), &h)
	if !fast {
		var ok bool
		if h, ok = slowProofHeader(hb); !ok {
			return nil, badProof(reason.Malformed, "DPoP proof header is not a JSON object")
		}
	}
	if h.Typ != ProofType {
		return nil, badProof(reason.Malformed, "DPoP proof typ must be dpop+jwt")
	}
	switch h.Alg {
	case jws.AlgEdDSA, jws.AlgEd25519, jws.AlgES256:
	default:
		return nil, badProof(reason.UnsupportedAlg, "DPoP proof alg must be EdDSA or ES256")
	}
	if h.Crit != nil || h.B64 != nil || h.Kid != nil || h.X5C != nil || h.JKU != nil || h.X5U != nil {
		return nil, badProof(reason.Malformed, "DPoP proof header carries members other than typ, alg and jwk")
	}
	if !fast {
		if h.JWK == nil {
			return nil, badProof(reason.Malformed, "DPoP proof header has no jwk")
		}
		// did.JWK refuses private members ("d", …): a proof carrying its
		// private key is refused, never used. (The fast path takes a jwk
		// of kty, crv, x and y only.)
		var err error
		if jwk, err = slowJWK(h.JWK); err != nil {
			return nil, badProof(reason.Malformed, "DPoP proof jwk is not a public key")
		}
	}
	pub, err := jwk.PublicKey()
	if err != nil {
		return nil, badProof(reason.Malformed, "DPoP proof jwk is not an Ed25519 or P-256 public key")
	}
	if err := jws.VerifySignature(h.Alg, pub, zerocopy.Bytes(proof[:j]), sig); err != nil { // read only
		code, _ := reason.CodeOf(err)
		return nil, badProof(code, "DPoP proof signature does not verify with its jwk")
	}
	var cl ProofClaims
	if !decodeProofClaims(pb, zerocopy.String(pb), &cl) {
		return nil, badProof(reason.Malformed, "DPoP proof claims are not a JSON object")
	}
	if cl.Jti == "" || cl.Htm == "" || cl.Htu == "" || cl.Iat == 0 {
		return nil, badProof(reason.Malformed, "DPoP proof needs jti, htm, htu and iat")
	}
	if len(cl.Jti) > 256 {
		return nil, badProof(reason.Malformed, "DPoP proof jti is too long")
	}
	if cl.Htm != c.Method {
		return nil, badProof(reason.RequestMismatch, "DPoP proof htm does not match the request method")
	}
	if !SameURL(cl.Htu, c.URL) {
		return nil, badProof(reason.RequestMismatch, "DPoP proof htu does not match the request URL")
	}
	iat := time.Unix(cl.Iat, 0)
	if iat.After(now.Add(skew)) {
		return nil, badProof(reason.NotYetValid, "DPoP proof iat is in the future")
	}
	if iat.Before(now.Add(-maxAge - skew)) {
		return nil, badProof(reason.Expired, "DPoP proof is too old")
	}
	if c.AccessToken != "" {
		if cl.Ath == "" || !athMatches(cl.Ath, c.AccessToken) {
			return nil, badProof(reason.RequestMismatch, "DPoP proof ath does not match the access token")
		}
	} else if cl.Ath != "" {
		return nil, badProof(reason.RequestMismatch, "DPoP proof has an ath but the request carries no access token")
	}
	if c.Nonces != nil && (cl.Nonce == "" || !c.Nonces.Valid(cl.Nonce, now)) {
		return nil, Errorf(UseDPoPNonce, reason.BadNonce, "a fresh DPoP-Nonce is required")
	}
	holder, err := thumbprint(replayPrefix, pub)
	if err != nil {
		return nil, badProof(reason.Malformed, "DPoP proof jwk has no thumbprint")
	}
	return &Proof{JKT: holder[len(replayPrefix):], Public: pub, Claims: cl, Expires: iat.Add(maxAge + 2*skew), holder: holder}, nil
}

// StripQuery returns rawURL without its query and fragment: a proof's htu.
func StripQuery(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", errors.New("oauth: URL must be an absolute http(s) URL")
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", false
	return u.String(), nil
}

// SameURL reports whether two http(s) URLs are the same once query and
// fragment are dropped and both are normalised as RFC 9449 §4.3 asks
// (RFC 3986 §6.2.2 and §6.2.3): scheme and host compared without case,
// default ports elided, an empty path as "/", percent-encodings of
// unreserved characters decoded and the others' hex upper-cased, and dot
// segments removed.
func SameURL(a, b string) bool {
	if a == b {
		// The common case (a client's htu is the URL it called): one
		// normalisation decides.
		_, err := NormalizeURL(a)
		return err == nil
	}
	na, err1 := NormalizeURL(a)
	nb, err2 := NormalizeURL(b)
	return err1 == nil && err2 == nil && na == nb
}

// NormalizeURL returns the normal form of an absolute http(s) URL without
// query and fragment (see [SameURL]).
func NormalizeURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", errors.New("oauth: not an absolute URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("oauth: not an http(s) URL")
	}
	host := strings.ToLower(u.Host)
	if (scheme == "https" && strings.HasSuffix(host, ":443")) || (scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	host = strings.TrimSuffix(host, ":")
	if host == "" {
		// "http://:" has a Host of ":" and no host.
		return "", errors.New("oauth: URL has no host")
	}
	p := normalizePercent(u.EscapedPath())
	if strings.HasPrefix(p, ".") || strings.Contains(p, "/.") {
		// Only a segment starting with a dot can be a dot segment: other
		// paths are their own result.
		p = removeDotSegments(p)
	}
	if p == "" {
		p = "/"
	}
	return scheme + "://" + host + p, nil
}

// normalizePercent decodes percent-encoded unreserved characters and
// upper-cases the hex digits of the rest (RFC 3986 §6.2.2.1, §6.2.2.2).
func normalizePercent(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var sb strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			c := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(c) {
				sb.WriteByte(c)
			} else {
				sb.WriteByte('%')
				sb.WriteString(strings.ToUpper(p[i+1 : i+3]))
			}
			i += 2
			continue
		}
		sb.WriteByte(p[i])
	}
	return sb.String()
}

// removeDotSegments is RFC 3986 §5.2.4.
func removeDotSegments(in string) string {
	var out []string
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			i := strings.IndexByte(in[1:], '/')
			if i < 0 {
				out = append(out, in)
				in = ""
			} else {
				out = append(out, in[:i+1])
				in = in[i+1:]
			}
		}
	}
	return strings.Join(out, "")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// randomID is 128 random bits, base64url.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return b64.EncodeToString(b[:])
}

// decodeProofClaims decodes a proof's claims, by the fast path when it can;
// s is b as a string.
func decodeProofClaims(b []byte, s string, c *ProofClaims) bool {
	if fastDecodeProofClaims(s, c) {
		return true
	}
	// A separate variable, so that c (on the caller's stack) does not
	// escape through encoding/json.
	var v ProofClaims
	ok := strictjson.Check(b, proofClaimNames) == nil && json.Unmarshal(b, &v) == nil
	*c = v
	return ok
}

// slowProofHeader decodes a proof header that the fast path left, with
// encoding/json after strictjson.Check.
func slowProofHeader(b []byte) (proofHeader, bool) {
	var h proofHeader
	if strictjson.Check(b, proofHeaderNames) != nil || json.Unmarshal(b, &h) != nil {
		return proofHeader{}, false
	}
	return h, true
}

// slowJWK decodes the jwk of a header slowProofHeader decoded.
func slowJWK(b []byte) (did.JWK, error) {
	var k did.JWK
	err := json.Unmarshal(b, &k)
	return k, err
}
