package did

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"

	"github.com/agentid/agentid/reason"
)

func TestKeyRoundTrip(t *testing.T) {
	for i := 0; i < 20; i++ {
		for _, pub := range []any{newEd25519(t), newP256(t)} {
			id, err := KeyFromPublic(pub)
			if err != nil {
				t.Fatal(err)
			}
			prefix := "did:key:z6Mk"
			if _, ok := pub.(*ecdsa.PublicKey); ok {
				prefix = "did:key:zDn"
			}
			if !strings.HasPrefix(id, prefix) {
				t.Fatalf("%s does not start with %s", id, prefix)
			}
			got, err := PublicKeyFromKey(id)
			if err != nil || !equalKeys(got, pub) {
				t.Fatalf("PublicKeyFromKey(%s) = %v, %v", id, got, err)
			}
		}
	}
}

func TestPublicKeyFromKeyErrors(t *testing.T) {
	ed := fixedEd25519()
	good := mbKey(t, []byte{0xed, 0x01}, ed)
	p256, _ := newP256(t).Bytes()
	compressed := append([]byte{2 | p256[64]&1}, p256[1:33]...)
	xTooBig := append([]byte{2}, []byte(strings.Repeat("\xff", 32))...)
	tests := []struct {
		name string
		did  string
		code string
	}{
		{"empty", "", CodeInvalidDID},
		{"wrong method", "did:example:" + good[len("did:key:"):], CodeInvalidDID},
		{"upper-case prefix", "DID:KEY:" + good[len("did:key:"):], CodeInvalidDID},
		{"no value", "did:key:", CodeInvalidDID},
		{"only z", "did:key:z", CodeInvalidDID},
		{"base64 multibase", "did:key:m7QH", CodeInvalidDID},
		{"base32 multibase", "did:key:b5ua", CodeInvalidDID},
		{"bad base58 character 0", good[:20] + "0" + good[21:], CodeInvalidDID},
		{"bad base58 character l", good[:20] + "l" + good[21:], CodeInvalidDID},
		{"fragment", good + "#" + good[8:], CodeInvalidDID},
		{"query", good + "?x=1", CodeInvalidDID},
		{"path", good + "/p", CodeInvalidDID},
		{"whitespace", good + " ", CodeInvalidDID},
		{"too long", "did:key:z" + strings.Repeat("2", 300), CodeInvalidDID},
		{"truncated varint", mbKey(t, []byte{0xed}, nil), CodeInvalidDID},
		{"non-minimal varint", mbKey(t, []byte{0xed, 0x81, 0x00}, ed), CodeInvalidDID},
		// base58 is positional: cutting or adding characters changes the
		// leading bytes, so the multicodec prefix no longer reads 0xed.
		{"truncated string", good[:len(good)-4], CodeInvalidDID},
		{"Ed25519 31 bytes", mbKey(t, []byte{0xed, 0x01}, ed[:31]), CodeInvalidPublicKey},
		{"Ed25519 trailing byte", mbKey(t, []byte{0xed, 0x01}, append(append([]byte{}, ed...), 0)), CodeInvalidPublicKey},
		{"trailing characters", good + "zz", CodeInvalidDID},
		{"Ed25519 no key", mbKey(t, []byte{0xed, 0x01}, nil), CodeInvalidPublicKey},
		{"P-256 uncompressed", mbKey(t, []byte{0x80, 0x24}, p256), CodeInvalidPublicKey},
		{"P-256 32 bytes", mbKey(t, []byte{0x80, 0x24}, compressed[:32]), CodeInvalidPublicKey},
		{"P-256 trailing byte", mbKey(t, []byte{0x80, 0x24}, append(append([]byte{}, compressed...), 0)), CodeInvalidPublicKey},
		{"P-256 bad tag", mbKey(t, []byte{0x80, 0x24}, append([]byte{4}, compressed[1:]...)), CodeInvalidPublicKey},
		{"P-256 zero tag", mbKey(t, []byte{0x80, 0x24}, append([]byte{0}, compressed[1:]...)), CodeInvalidPublicKey},
		{"P-256 off curve", mbKey(t, []byte{0x80, 0x24}, offCurveX(t)), CodeInvalidPublicKey},
		{"P-256 x >= p", mbKey(t, []byte{0x80, 0x24}, xTooBig), CodeInvalidPublicKey},
		{"X25519", mbKey(t, []byte{0xec, 0x01}, ed), CodeInvalidPublicKeyType},
		{"secp256k1", mbKey(t, []byte{0xe7, 0x01}, compressed), CodeInvalidPublicKeyType},
		{"P-384", mbKey(t, []byte{0x81, 0x24}, make([]byte, 49)), CodeInvalidPublicKeyType},
		{"P-521", mbKey(t, []byte{0x82, 0x24}, make([]byte, 67)), CodeInvalidPublicKeyType},
		{"Ed448", mbKey(t, []byte{0x83, 0x24}, make([]byte, 57)), CodeInvalidPublicKeyType},
		{"short RSA", mbKey(t, []byte{0x85, 0x24}, make([]byte, 100)), CodeInvalidPublicKeyType},
		// Real RSA keys exceed the length bound and are refused unread.
		{"RSA-2048", mbKey(t, []byte{0x85, 0x24}, make([]byte, 270)), CodeInvalidDID},
		{"not a key codec", mbKey(t, []byte{0x01}, ed), CodeInvalidDID},
		{"sha2-256 multihash", mbKey(t, []byte{0x12, 0x20}, ed), CodeInvalidDID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := PublicKeyFromKey(tt.did)
			if pub != nil {
				t.Fatalf("got key %v", pub)
			}
			wantCode(t, err, tt.code)
			want := reason.Malformed
			if tt.code == CodeInvalidPublicKeyType {
				want = reason.UnknownKey
			}
			if !errors.Is(err, want) {
				t.Fatalf("errors.Is(%v, %s) = false", err, want)
			}
		})
	}
}

func TestKeyFromPublicErrors(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  any
		code string
	}{
		{"nil", nil, CodeInvalidPublicKeyType},
		{"short Ed25519", ed25519.PublicKey(make([]byte, 31)), CodeInvalidPublicKey},
		{"Ed25519 private key", ed25519.NewKeyFromSeed(make([]byte, 32)), CodeInvalidPublicKeyType},
		{"nil ECDSA", (*ecdsa.PublicKey)(nil), CodeInvalidPublicKey},
		{"P-384", &p384.PublicKey, CodeInvalidPublicKeyType},
		{"ECDSA value, not pointer", *newP256(t), CodeInvalidPublicKeyType},
		{"RSA", &rsa.PublicKey{}, CodeInvalidPublicKeyType},
		{"empty P-256", &ecdsa.PublicKey{Curve: elliptic.P256()}, CodeInvalidPublicKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := KeyFromPublic(tt.pub)
			wantCode(t, err, tt.code)
			_, err = JWKFromPublic(tt.pub)
			wantCode(t, err, tt.code)
			_, err = PublicJWK(tt.pub)
			wantCode(t, err, tt.code)
			_, err = Thumbprint(tt.pub)
			wantCode(t, err, tt.code)
		})
	}
}

// zeroReader is a deterministic entropy source; fine for a throwaway key.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 1
	}
	return len(p), nil
}
