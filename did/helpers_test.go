package did

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"
	"os"
	"testing"

	"github.com/multiformats/go-multibase"
)

// vectorDir returns the directory holding the W3C did:key test vectors,
// testdata beside this package (see testdata/README.md for their source
// and licence). Go runs a package's tests in the package directory.
func vectorDir(tb testing.TB) string {
	tb.Helper()
	v := "testdata"
	if _, err := os.Stat(v); err != nil {
		tb.Fatalf("test vectors not found: %v", err)
	}
	return v
}

// wantCode fails the test unless err is a *ResolutionError with code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	var re *ResolutionError
	if !errors.As(err, &re) {
		tb.Fatalf("error %v (%T) is not a *ResolutionError, want code %s", err, err, code)
	}
	if re.Code != code {
		tb.Fatalf("error code %s, want %s (error: %v)", re.Code, code, err)
	}
}

func newEd25519(tb testing.TB) ed25519.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

func newP256(tb testing.TB) *ecdsa.PublicKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &k.PublicKey
}

// fixedEd25519 and fixedP256 are deterministic keys for examples and
// golden values.
func fixedEd25519() ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
}

// mbKey base58btc-encodes codec-prefixed key bytes as a did:key.
func mbKey(tb testing.TB, prefix []byte, key []byte) string {
	tb.Helper()
	s, err := multibase.Encode(multibase.Base58BTC, append(append([]byte{}, prefix...), key...))
	if err != nil {
		tb.Fatal(err)
	}
	return "did:key:" + s
}

// offCurveX returns a compressed P-256 point whose x has no y on the curve.
func offCurveX(tb testing.TB) []byte {
	tb.Helper()
	for i := int64(0); i < 1000; i++ {
		c := make([]byte, 33)
		c[0] = 2
		big.NewInt(i).FillBytes(c[1:])
		if x, _ := elliptic.UnmarshalCompressed(elliptic.P256(), c); x == nil {
			return c
		}
	}
	tb.Fatal("no off-curve x found")
	return nil
}
