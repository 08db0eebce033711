package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/agentid/agentid/reason"
)

var now0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const apiURL = "https://calendar.example.com/v1/events"

func edKey(t testing.TB) ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// resign replaces a proof's header and/or claims and signs it again with
// key, to build proofs NewProof never makes.
func resign(t testing.TB, key crypto.Signer, alg string, header, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	var sig []byte
	switch k := key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	default:
		t.Fatalf("resign: %T", key)
	}
	_ = alg
	return input + "." + b64.EncodeToString(sig)
}

func decodeProof(t testing.TB, p string) (map[string]any, map[string]any) {
	parts := strings.Split(p, ".")
	var h, c map[string]any
	hb, _ := b64.DecodeString(parts[0])
	cb, _ := b64.DecodeString(parts[1])
	_ = json.Unmarshal(hb, &h)
	_ = json.Unmarshal(cb, &c)
	return h, c
}

func TestProofRoundTrip(t *testing.T) {
	for name, key := range map[string]crypto.Signer{"EdDSA": edKey(t), "ES256": ecKey(t)} {
		t.Run(name, func(t *testing.T) {
			p, err := NewProof(key, ProofOptions{Method: "GET", URL: apiURL + "?q=1#f", AccessToken: "tok", Nonce: "n1", Now: now0})
			if err != nil {
				t.Fatal(err)
			}
			got, err := CheckProof(p, ProofCheck{Method: "GET", URL: "HTTPS://Calendar.Example.com:443/v1/./events?x", AccessToken: "tok", Now: now0.Add(30 * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Thumbprint(key.Public())
			if got.JKT != want || got.Claims.Htu != apiURL || got.Claims.Nonce != "n1" {
				t.Fatalf("proof = %+v, want jkt %s htu %s", got, want, apiURL)
			}
			// go-jose, independently: the proof verifies with the key its
			// header carries, and that key is the public key.
			js, err := jose.ParseSigned(p, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			h := js.Signatures[0].Protected
			if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || h.ExtraHeaders["typ"] != ProofType {
				t.Fatalf("go-jose header: %+v", h)
			}
			if _, err := js.Verify(h.JSONWebKey); err != nil {
				t.Fatalf("go-jose: %v", err)
			}
			tp, _ := h.JSONWebKey.Thumbprint(crypto.SHA256)
			if b64.EncodeToString(tp) != want {
				t.Fatal("go-jose thumbprint differs")
			}
		})
	}
}

func TestProofRefusals(t *testing.T) {
	key := edKey(t)
	other := edKey(t)
	good, _ := NewProof(key, ProofOptions{Method: "POST", URL: apiURL, AccessToken: "tok", Now: now0})
	h, cl := decodeProof(t, good)
	with := func(hm, cm map[string]any) string {
		h2, c2 := map[string]any{}, map[string]any{}
		for k, v := range h {
			h2[k] = v
		}
		for k, v := range cl {
			c2[k] = v
		}
		for k, v := range hm {
			if v == nil {
				delete(h2, k)
			} else {
				h2[k] = v
			}
		}
		for k, v := range cm {
			if v == nil {
				delete(c2, k)
			} else {
				c2[k] = v
			}
		}
		return resign(t, key, "EdDSA", h2, c2)
	}
	priv := h["jwk"].(map[string]any)
	privJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": priv["x"], "d": b64.EncodeToString(key.Seed())}
	otherJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(other.Public().(ed25519.PublicKey))}
	parts := strings.Split(good, ".")
	noneHdr, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": h["jwk"]})
	hsHdr, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": h["jwk"]})
	nonces, _ := NewNonces(nil, time.Minute)
	check := ProofCheck{Method: "POST", URL: apiURL, AccessToken: "tok", Now: now0}
	cases := []struct {
		name   string
		proof  string
		check  func(*ProofCheck)
		code   ErrorCode
		reason reason.Code
	}{
		{"missing", "", nil, InvalidDPoPProof, reason.Malformed},
		{"not a JWS", "a.b", nil, InvalidDPoPProof, reason.Malformed},
		{"wrong typ", with(map[string]any{"typ": "JWT"}, nil), nil, InvalidDPoPProof, reason.Malformed},
		{"no typ", with(map[string]any{"typ": nil}, nil), nil, InvalidDPoPProof, reason.Malformed},
		{"alg none", b64.EncodeToString(noneHdr) + "." + parts[1] + ".", nil, InvalidDPoPProof, reason.UnsupportedAlg},
		{"alg none signed", b64.EncodeToString(noneHdr) + "." + parts[1] + "." + parts[2], nil, InvalidDPoPProof, reason.UnsupportedAlg},
		{"alg HS256", b64.EncodeToString(hsHdr) + "." + parts[1] + "." + parts[2], nil, InvalidDPoPProof, reason.UnsupportedAlg},
		{"private key in header", with(map[string]any{"jwk": privJWK}, nil), nil, InvalidDPoPProof, reason.Malformed},
		{"no jwk", with(map[string]any{"jwk": nil}, nil), nil, InvalidDPoPProof, reason.Malformed},
		{"kid beside jwk", with(map[string]any{"kid": "x"}, nil), nil, InvalidDPoPProof, reason.Malformed},
		{"signed by another key", with(map[string]any{"jwk": otherJWK}, nil), nil, InvalidDPoPProof, reason.BadSignature},
		{"other method", good, func(c *ProofCheck) { c.Method = "GET" }, InvalidDPoPProof, reason.RequestMismatch},
		{"method case", good, func(c *ProofCheck) { c.Method = "post" }, InvalidDPoPProof, reason.RequestMismatch},
		{"other URL", good, func(c *ProofCheck) { c.URL = "https://calendar.example.com/v1/other" }, InvalidDPoPProof, reason.RequestMismatch},
		{"other host", good, func(c *ProofCheck) { c.URL = "https://evil.example.com/v1/events" }, InvalidDPoPProof, reason.RequestMismatch},
		{"http for https", good, func(c *ProofCheck) { c.URL = "http://calendar.example.com/v1/events" }, InvalidDPoPProof, reason.RequestMismatch},
		{"wrong ath", good, func(c *ProofCheck) { c.AccessToken = "other" }, InvalidDPoPProof, reason.RequestMismatch},
		{"no ath", with(nil, map[string]any{"ath": nil}), nil, InvalidDPoPProof, reason.RequestMismatch},
		{"ath without token", good, func(c *ProofCheck) { c.AccessToken = "" }, InvalidDPoPProof, reason.RequestMismatch},
		{"no jti", with(nil, map[string]any{"jti": nil}), nil, InvalidDPoPProof, reason.Malformed},
		{"no iat", with(nil, map[string]any{"iat": nil}), nil, InvalidDPoPProof, reason.Malformed},
		{"too old", good, func(c *ProofCheck) { c.Now = now0.Add(121 * time.Second) }, InvalidDPoPProof, reason.Expired},
		{"from the future", good, func(c *ProofCheck) { c.Now = now0.Add(-61 * time.Second) }, InvalidDPoPProof, reason.NotYetValid},
		{"duplicate member", b64.EncodeToString([]byte(`{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"EdDSA"}`)) + "." + parts[1] + "." + parts[2], nil, InvalidDPoPProof, reason.Malformed},
		{"nonce required", good, func(c *ProofCheck) { c.Nonces = nonces }, UseDPoPNonce, reason.BadNonce},
		{"nonce unknown", with(nil, map[string]any{"nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}), func(c *ProofCheck) { c.Nonces = nonces }, UseDPoPNonce, reason.BadNonce},
		{"nonce stale", with(nil, map[string]any{"nonce": nonces.Issue(now0.Add(-2 * time.Minute))}), func(c *ProofCheck) { c.Nonces = nonces }, UseDPoPNonce, reason.BadNonce},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := check
			if tc.check != nil {
				tc.check(&c)
			}
			_, err := CheckProof(tc.proof, c)
			e, ok := AsError(err)
			if !ok || e.Code != tc.code || e.Reason != tc.reason {
				t.Fatalf("CheckProof = %v, want %s (%s)", err, tc.code, tc.reason)
			}
		})
	}
	// A fresh nonce passes.
	p := with(nil, map[string]any{"nonce": nonces.Issue(now0)})
	c := check
	c.Nonces = nonces
	if _, err := CheckProof(p, c); err != nil {
		t.Fatalf("fresh nonce: %v", err)
	}
}

func TestProofReplay(t *testing.T) {
	key := edKey(t)
	p, _ := NewProof(key, ProofOptions{Method: "GET", URL: apiURL, Now: now0})
	cache := mapCache{}
	for i, want := range []error{nil, InvalidDPoPProof} {
		pr, err := CheckProof(p, ProofCheck{Method: "GET", URL: apiURL, Now: now0})
		if err != nil {
			t.Fatal(err)
		}
		err = pr.Commit(cache, now0)
		if want == nil && err != nil || want != nil && !(errors.Is(err, want) && errors.Is(err, reason.Replayed)) {
			t.Fatalf("use %d: Commit = %v, want %v", i+1, err, want)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"https://EXAMPLE.com/a", "https://example.com/a"},
		{"https://example.com:443/a", "https://example.com/a"},
		{"http://example.com:80", "http://example.com/"},
		{"https://example.com/%7euser", "https://example.com/~user"},
		{"https://example.com/a%2fb", "https://example.com/a%2Fb"},
		{"https://example.com/a/./b/../c", "https://example.com/a/c"},
		{"https://example.com/a?x=1#y", "https://example.com/a"},
	} {
		if !SameURL(tc.a, tc.b) {
			na, _ := NormalizeURL(tc.a)
			nb, _ := NormalizeURL(tc.b)
			t.Errorf("SameURL(%q, %q) = false (%q vs %q)", tc.a, tc.b, na, nb)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"https://example.com/a", "http://example.com/a"},
		{"https://example.com:8443/a", "https://example.com/a"},
		{"https://example.com/a/", "https://example.com/a"},
		{"https://example.com/A", "https://example.com/a"},
		{"ftp://example.com/a", "ftp://example.com/a"},
		{"/a", "/a"},
	} {
		if SameURL(tc.a, tc.b) {
			t.Errorf("SameURL(%q, %q) = true", tc.a, tc.b)
		}
	}
}

func TestNonces(t *testing.T) {
	n, _ := NewNonces(nil, time.Minute)
	other, _ := NewNonces(nil, time.Minute)
	v := n.Issue(now0)
	if !n.Valid(v, now0.Add(59*time.Second)) {
		t.Fatal("fresh nonce refused")
	}
	if n.Valid(v, now0.Add(61*time.Second)) {
		t.Fatal("stale nonce accepted")
	}
	if other.Valid(v, now0) {
		t.Fatal("nonce of another key accepted")
	}
	if n.Valid(v[:len(v)-1]+"A", now0) && v[len(v)-1] != 'A' {
		t.Fatal("edited nonce accepted")
	}
	if _, err := NewNonces(make([]byte, 8), 0); err == nil {
		t.Fatal("short key accepted")
	}
}

func FuzzCheckProof(f *testing.F) {
	key := edKey(f)
	p, _ := NewProof(key, ProofOptions{Method: "GET", URL: apiURL, AccessToken: "t", Now: now0})
	f.Add(p)
	f.Add("e30.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		pr, err := CheckProof(s, ProofCheck{Method: "GET", URL: apiURL, AccessToken: "t", Now: now0})
		if err == nil && (pr.JKT == "" || pr.Claims.Jti == "") {
			t.Fatal("accepted a proof without jkt or jti")
		}
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("refusal is not an *Error: %v", err)
			}
		}
	})
}

// mapCache is the smallest ReplayCache (verifier.MemoryReplayCache, the
// real one, imports this package).
type mapCache map[string]bool

func (m mapCache) Record(holder, jti string, exp, now time.Time) error {
	if m[holder+"\x00"+jti] {
		return errors.New("replayed")
	}
	m[holder+"\x00"+jti] = true
	return nil
}

// FuzzDotSegments checks the shortcut in NormalizeURL: a path with no
// segment starting with a dot is its own removeDotSegments.
func FuzzDotSegments(f *testing.F) {
	for _, p := range []string{"/a/b", "/a/./b", "/a/../b", "a.b/c", "/.a", "/a./b", "..", "/", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if strings.HasPrefix(p, ".") || strings.Contains(p, "/.") {
			return
		}
		if got := removeDotSegments(p); got != p {
			t.Fatalf("removeDotSegments(%q) = %q", p, got)
		}
	})
}
