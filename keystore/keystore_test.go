package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkecdsa "github.com/tink-crypto/tink-go/v2/signature/ecdsa"
	tinked25519 "github.com/tink-crypto/tink-go/v2/signature/ed25519"

	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
)

// verify checks a raw JWS signature with the standard library only, so the
// test does not trust the code under test for verification.
func verify(t *testing.T, pub crypto.PublicKey, msg, sig []byte) bool {
	t.Helper()
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			t.Fatalf("ES256 signature has %d bytes, want 64", len(sig))
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		digest := sha256.Sum256(msg)
		return ecdsa.Verify(pub, digest[:], r, s)
	default:
		t.Fatalf("unexpected public key type %T", pub)
		return false
	}
}

// joseThumbprint computes the RFC 7638 thumbprint independently, with go-jose.
func joseThumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestSignVerify(t *testing.T) {
	msg := []byte("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudCJ9")
	tests := []struct {
		name    string
		alg     Algorithm
		wantAlg string
		memory  bool
	}{
		{"store/Ed25519", Ed25519, "EdDSA", false},
		{"store/ES256", ES256, "ES256", false},
		{"store/default", "", "EdDSA", false},
		{"memory/Ed25519", Ed25519, "EdDSA", true},
		{"memory/ES256", ES256, "ES256", true},
		{"memory/default", "", "EdDSA", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sg *Signer
			var err error
			if tc.memory {
				sg, err = NewMemorySigner(tc.alg)
			} else {
				s := newTestStore(t, nil)
				if err := s.Create(t.Context(), "issuer", tc.alg); err != nil {
					t.Fatal(err)
				}
				sg, err = s.Signer(t.Context(), "issuer")
			}
			if err != nil {
				t.Fatal(err)
			}
			if sg.Alg() != tc.wantAlg {
				t.Errorf("Alg() = %q, want %q", sg.Alg(), tc.wantAlg)
			}
			pub := sg.Public()
			switch tc.wantAlg {
			case "EdDSA":
				if _, ok := pub.(ed25519.PublicKey); !ok {
					t.Fatalf("Public() is %T, want ed25519.PublicKey", pub)
				}
			case "ES256":
				if _, ok := pub.(*ecdsa.PublicKey); !ok {
					t.Fatalf("Public() is %T, want *ecdsa.PublicKey", pub)
				}
			}
			if got, want := sg.KeyID(), joseThumbprint(t, pub); got != want {
				t.Errorf("KeyID() = %q, want RFC 7638 thumbprint %q", got, want)
			}
			sig, err := sg.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != 64 {
				t.Errorf("signature has %d bytes, want 64 (no Tink prefix)", len(sig))
			}
			if !verify(t, pub, msg, sig) {
				t.Error("signature does not verify with the standard library")
			}
			if verify(t, pub, append(slices.Clone(msg), 'x'), sig) {
				t.Error("signature verifies over a different message")
			}
		})
	}
}

// TestOpaqueSignerJWS signs a compact JWS through go-jose and verifies it
// with go-jose against the public JWK, end to end.
func TestOpaqueSignerJWS(t *testing.T) {
	for _, alg := range []Algorithm{Ed25519, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			sg, err := NewMemorySigner(alg)
			if err != nil {
				t.Fatal(err)
			}
			js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: sg.OpaqueSigner()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := js.Sign([]byte(`{"sub":"agent"}`))
			if err != nil {
				t.Fatal(err)
			}
			compact, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if got := parsed.Signatures[0].Header.KeyID; got != sg.KeyID() {
				t.Errorf("kid header = %q, want %q", got, sg.KeyID())
			}
			payload, err := parsed.Verify(sg.Public())
			if err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			if string(payload) != `{"sub":"agent"}` {
				t.Errorf("payload = %s", payload)
			}
			other := jose.ES256
			if alg == ES256 {
				other = jose.EdDSA
			}
			if _, err := sg.OpaqueSigner().SignPayload([]byte("x"), other); !errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Errorf("SignPayload with %s: err = %v, want ErrUnsupportedAlgorithm", other, err)
			}
		})
	}
}

func TestRotateRetire(t *testing.T) {
	for _, alg := range []Algorithm{Ed25519, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			s := newTestStore(t, &Options{Now: func() time.Time { return clock }})
			ctx := t.Context()
			if err := s.Create(ctx, "issuer", alg); err != nil {
				t.Fatal(err)
			}
			old, err := s.Signer(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("signing input")
			oldSig, err := old.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}

			clock = clock.Add(time.Hour)
			nk, err := s.Rotate(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			if !nk.Primary || nk.KID == old.KeyID() || nk.Alg != string(alg) || !nk.Created.Equal(clock) {
				t.Errorf("Rotate() = %+v, want new primary %s key created %v", nk, alg, clock)
			}
			if nk.KID != joseThumbprint(t, nk.Public) {
				t.Errorf("rotated kid %q is not the thumbprint of its key", nk.KID)
			}

			keys, err := s.PublicKeys(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 {
				t.Fatalf("PublicKeys() has %d keys, want 2", len(keys))
			}
			if keys[0].KID != nk.KID || !keys[0].Primary {
				t.Errorf("PublicKeys()[0] = %s primary=%v, want new key %s as primary", keys[0].KID, keys[0].Primary, nk.KID)
			}
			if keys[1].KID != old.KeyID() || keys[1].Primary || !keys[1].Created.Equal(clock.Add(-time.Hour)) {
				t.Errorf("PublicKeys()[1] = %+v, want old key %s, not primary", keys[1], old.KeyID())
			}
			if !verify(t, keys[1].Public, msg, oldSig) {
				t.Error("old signature does not verify with the old key after rotation")
			}

			cur, err := s.Signer(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			if cur.KeyID() != nk.KID {
				t.Errorf("Signer().KeyID() = %s after rotation, want %s", cur.KeyID(), nk.KID)
			}
			newSig, err := cur.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !verify(t, keys[0].Public, msg, newSig) {
				t.Error("new signature does not verify with the new key")
			}

			if err := s.Retire(ctx, "issuer", nk.KID); !errors.Is(err, ErrPrimary) {
				t.Errorf("Retire(primary) err = %v, want ErrPrimary", err)
			}
			if err := s.Retire(ctx, "issuer", "no-such-kid"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Retire(unknown) err = %v, want ErrNotFound", err)
			}
			if err := s.Retire(ctx, "issuer", old.KeyID()); err != nil {
				t.Fatalf("Retire(old) = %v", err)
			}
			if err := s.Retire(ctx, "issuer", old.KeyID()); !errors.Is(err, ErrNotFound) {
				t.Errorf("Retire(old) twice err = %v, want ErrNotFound", err)
			}
			keys, err = s.PublicKeys(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || keys[0].KID != nk.KID {
				t.Errorf("PublicKeys() after retire = %v, want only %s", kids(keys), nk.KID)
			}
			cur, err = s.Signer(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			if cur.KeyID() != nk.KID {
				t.Errorf("Signer().KeyID() after retire = %s, want %s", cur.KeyID(), nk.KID)
			}
		})
	}
}

func kids(keys []PublicKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.KID)
	}
	return out
}

func TestStoreErrors(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := t.Context()
	if err := s.Create(ctx, "issuer", Ed25519); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"create existing", func() error { return s.Create(ctx, "issuer", ES256) }, ErrExists},
		{"create bad alg", func() error { return s.Create(ctx, "x", "RS256") }, ErrUnsupportedAlgorithm},
		{"create empty name", func() error { return s.Create(ctx, "", Ed25519) }, ErrInvalidName},
		{"create long name", func() error { return s.Create(ctx, strings.Repeat("a", 65), Ed25519) }, ErrInvalidName},
		{"create slash name", func() error { return s.Create(ctx, "a/b", Ed25519) }, ErrInvalidName},
		{"create canceled", func() error { return s.Create(canceled, "y", Ed25519) }, context.Canceled},
		{"signer missing", func() error { _, err := s.Signer(ctx, "nope"); return err }, ErrNotFound},
		{"public keys missing", func() error { _, err := s.PublicKeys(ctx, "nope"); return err }, ErrNotFound},
		{"rotate missing", func() error { _, err := s.Rotate(ctx, "nope"); return err }, ErrNotFound},
		{"retire missing keyset", func() error { return s.Retire(ctx, "nope", "kid") }, ErrNotFound},
		{"exists bad name", func() error { _, err := s.Exists(ctx, "a b"); return err }, ErrInvalidName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			} else if !strings.HasPrefix(err.Error(), "keystore: ") {
				t.Errorf("err = %q, want a keystore: prefix", err)
			}
		})
	}

	for name, want := range map[string]bool{"issuer": true, "nope": false} {
		got, err := s.Exists(ctx, name)
		if err != nil || got != want {
			t.Errorf("Exists(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if ok, _ := s.Exists(ctx, "x"); ok {
		t.Error("a failed Create left a keyset behind")
	}

	if _, err := Open(nil, testMaster(t), nil); err == nil {
		t.Error("Open(nil db) succeeded")
	}
	if _, err := NewMemorySigner("HS256"); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("NewMemorySigner(HS256) err = %v, want ErrUnsupportedAlgorithm", err)
	}
}

// TestPersistence closes and reopens the database and the master key file:
// kids stay the same and old signatures still verify.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "agentid.db")
	keyPath := filepath.Join(dir, "master.key")
	ctx := t.Context()
	msg := []byte("persist me")

	type before struct {
		kids []string
		pubs []crypto.PublicKey
		sig  []byte
	}
	saved := map[string]before{}

	master, err := LoadOrCreateMasterKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	db, err := boltstore.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, master, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		alg  Algorithm
	}{{"ed", Ed25519}, {"ec", ES256}} {
		if err := s.Create(ctx, tc.name, tc.alg); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, tc.name); err != nil {
			t.Fatal(err)
		}
		sg, err := s.Signer(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := sg.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := s.PublicKeys(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		b := before{sig: sig}
		for _, k := range keys {
			b.kids = append(b.kids, k.KID)
			b.pubs = append(b.pubs, k.Public)
		}
		saved[tc.name] = b
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	master2, err := LoadOrCreateMasterKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	db2 := openTestDB(t, dbPath)
	s2, err := Open(db2, master2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range saved {
		keys, err := s2.PublicKeys(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := kids(keys); !slices.Equal(got, b.kids) {
			t.Errorf("%s: kids after reopen = %v, want %v", name, got, b.kids)
		}
		if !verify(t, keys[0].Public, msg, b.sig) {
			t.Errorf("%s: signature from before reopen does not verify", name)
		}
		sg, err := s2.Signer(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := sg.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if sg.KeyID() != b.kids[0] || !verify(t, b.pubs[0], msg, sig) {
			t.Errorf("%s: new signature does not verify with the key saved before reopen", name)
		}
	}
}

// TestDecryptFailures checks that a wrong master key, a tampered ciphertext
// and a ciphertext moved to another name all fail cleanly with ErrDecrypt,
// and that tampered metadata is detected.
func TestDecryptFailures(t *testing.T) {
	setup := func(t *testing.T) (*boltstore.Store, *Store) {
		db := openTestDB(t, filepath.Join(t.TempDir(), "agentid.db"))
		s, err := Open(db, testMaster(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"a", "b"} {
			if err := s.Create(t.Context(), n, Ed25519); err != nil {
				t.Fatal(err)
			}
		}
		return db, s
	}
	put := func(t *testing.T, db *boltstore.Store, bucket string, name string, f func(v []byte) []byte) {
		t.Helper()
		err := db.Update(t.Context(), func(tx store.Tx) error {
			v := slices.Clone(tx.Bucket(bucket).Get([]byte(name)))
			return tx.Bucket(bucket).Put([]byte(name), f(v))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		mutate  func(t *testing.T, db *boltstore.Store, s *Store) *Store
		want    error
		wantMsg string
	}{
		{
			name: "wrong master key",
			mutate: func(t *testing.T, db *boltstore.Store, _ *Store) *Store {
				s2, err := Open(db, testMaster(t), nil)
				if err != nil {
					t.Fatal(err)
				}
				return s2
			},
			want: ErrDecrypt,
		},
		{
			name: "flipped ciphertext byte",
			mutate: func(t *testing.T, db *boltstore.Store, _ *Store) *Store {
				put(t, db, bucketKeysets, "a", func(v []byte) []byte {
					// The AEAD ciphertext comes first in the proto; flip a
					// byte well inside it.
					v[10] ^= 0x01
					return v
				})
				return nil
			},
			want: ErrDecrypt,
		},
		{
			name: "truncated ciphertext",
			mutate: func(t *testing.T, db *boltstore.Store, _ *Store) *Store {
				put(t, db, bucketKeysets, "a", func(v []byte) []byte { return v[:len(v)/2] })
				return nil
			},
			want: ErrDecrypt,
		},
		{
			name: "ciphertext moved to another name",
			mutate: func(t *testing.T, db *boltstore.Store, _ *Store) *Store {
				var b []byte
				if err := db.View(t.Context(), func(tx store.Tx) error {
					b = slices.Clone(tx.Bucket(bucketKeysets).Get([]byte("b")))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				put(t, db, bucketKeysets, "a", func([]byte) []byte { return b })
				return nil
			},
			want: ErrDecrypt,
		},
		{
			name: "metadata kid altered",
			mutate: func(t *testing.T, db *boltstore.Store, _ *Store) *Store {
				put(t, db, bucketMeta, "a", func(v []byte) []byte {
					var rec record
					if err := json.Unmarshal(v, &rec); err != nil {
						t.Fatal(err)
					}
					rec.Keys[0].KID = "forged"
					out, _ := json.Marshal(rec)
					return out
				})
				return nil
			},
			wantMsg: "metadata does not match keyset",
		},
		{
			name: "metadata not JSON",
			mutate: func(t *testing.T, db *boltstore.Store, _ *Store) *Store {
				put(t, db, bucketMeta, "a", func([]byte) []byte { return []byte("{") })
				return nil
			},
			wantMsg: "corrupted metadata",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, s := setup(t)
			// A fresh Store, so the result does not come from a cache that
			// predates the change.
			if s2 := tc.mutate(t, db, s); s2 != nil {
				s = s2
			} else {
				s = &Store{db: db, master: s.master, now: time.Now, cache: map[string]*loaded{}}
			}
			checks := map[string]func() error{
				"Signer":     func() error { _, err := s.Signer(t.Context(), "a"); return err },
				"PublicKeys": func() error { _, err := s.PublicKeys(t.Context(), "a"); return err },
				"Rotate":     func() error { _, err := s.Rotate(t.Context(), "a"); return err },
			}
			for op, f := range checks {
				err := f()
				switch {
				case err == nil:
					t.Errorf("%s succeeded, want error", op)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("%s err = %v, want %v", op, err, tc.want)
				case tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg):
					t.Errorf("%s err = %v, want it to mention %q", op, err, tc.wantMsg)
				}
			}
		})
	}
}

// TestCacheFollowsOtherStore checks that a Store notices writes made through
// another Store on the same database (the generation check), rather than
// serving a stale cached signer.
func TestCacheFollowsOtherStore(t *testing.T) {
	s1 := newTestStore(t, nil)
	s2 := &Store{db: s1.db, master: s1.master, now: time.Now, cache: map[string]*loaded{}}
	ctx := t.Context()
	if err := s1.Create(ctx, "issuer", Ed25519); err != nil {
		t.Fatal(err)
	}
	a, err := s1.Signer(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := s1.Signer(ctx, "issuer"); b != a {
		t.Error("second Signer() call did not come from the cache")
	}
	nk, err := s2.Rotate(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s1.Signer(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyID() != nk.KID {
		t.Errorf("Signer() after rotation elsewhere = %s, want %s", c.KeyID(), nk.KID)
	}
}

// TestConcurrentSignRotate signs from many goroutines while keys rotate.
// Run with -race.
func TestConcurrentSignRotate(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := t.Context()
	if err := s.Create(ctx, "issuer", ES256); err != nil {
		t.Fatal(err)
	}
	shared, err := s.Signer(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				sg := shared
				if i%2 == 0 {
					var err error
					if sg, err = s.Signer(ctx, "issuer"); err != nil {
						errs <- err
						return
					}
				}
				msg := fmt.Appendf(nil, "g%d-i%d", g, i)
				sig, err := sg.Sign(msg)
				if err != nil {
					errs <- err
					return
				}
				if !verify(t, sg.Public(), msg, sig) {
					errs <- fmt.Errorf("signature by %s does not verify", sg.KeyID())
					return
				}
				if _, err := s.PublicKeys(ctx, "issuer"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 5 {
		if _, err := s.Rotate(ctx, "issuer"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keys, err := s.PublicKeys(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 {
		t.Errorf("PublicKeys() has %d keys after 5 rotations, want 6", len(keys))
	}
}

// TestPublicKeysAreCopies checks that callers cannot alter cached keys.
func TestPublicKeysAreCopies(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := t.Context()
	if err := s.Create(ctx, "issuer", Ed25519); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.PublicKeys(ctx, "issuer")
	keys[0].Public.(ed25519.PublicKey)[0] ^= 0xff
	keys[0].KID = "changed"
	again, _ := s.PublicKeys(ctx, "issuer")
	if again[0].KID == "changed" || joseThumbprint(t, again[0].Public) != again[0].KID {
		t.Error("modifying a returned PublicKey changed the store's copy")
	}
	sg, _ := s.Signer(ctx, "issuer")
	sg.Public().(ed25519.PublicKey)[0] ^= 0xff
	if joseThumbprint(t, sg.Public()) != sg.KeyID() {
		t.Error("modifying Signer.Public() changed the signer's key")
	}
}

// privateKeyBytes returns the private key material of every key in keyset
// name, read from the decrypted handle through Tink's insecure accessors:
// the 32-byte Ed25519 seed or the 32-byte P-256 scalar.
func privateKeyBytes(t *testing.T, s *Store, name string) (secrets [][]byte, handle *keyset.Handle) {
	t.Helper()
	err := s.db.View(t.Context(), func(tx store.Tx) error {
		h, _, _, _, err := s.get(tx, name)
		handle = h
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range handle.Len() {
		e, err := handle.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		switch k := e.Key().(type) {
		case *tinked25519.PrivateKey:
			b = k.PrivateKeyBytes().Data(insecuresecretdataaccess.Token{})
		case *tinkecdsa.PrivateKey:
			b = k.PrivateKeyValue().Data(insecuresecretdataaccess.Token{})
		default:
			t.Fatalf("unexpected key type %T", k)
		}
		if len(b) != 32 {
			t.Fatalf("private key of %T has %d bytes, want 32", e.Key(), len(b))
		}
		secrets = append(secrets, b)
	}
	return secrets, handle
}

// TestNoPrivateKeyOnDisk scans the raw bbolt file for private key bytes. To
// show the scan can fail, it also finds the same bytes in a cleartext Tink
// export, and finds the (public) kids in the file.
func TestNoPrivateKeyOnDisk(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "agentid.db")
	db, err := boltstore.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, testMaster(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var (
		secrets [][]byte
		kidList []string
	)
	for _, tc := range []struct {
		name string
		alg  Algorithm
	}{{"ed", Ed25519}, {"ec", ES256}} {
		if err := s.Create(ctx, tc.name, tc.alg); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, tc.name); err != nil {
			t.Fatal(err)
		}
		sk, h := privateKeyBytes(t, s, tc.name)
		if len(sk) != 2 {
			t.Fatalf("%s: %d private keys, want 2", tc.name, len(sk))
		}
		// Control: the same bytes are found in a cleartext export.
		var clear bytes.Buffer
		if err := insecurecleartextkeyset.Write(h, keyset.NewBinaryWriter(&clear)); err != nil {
			t.Fatal(err)
		}
		for _, b := range sk {
			if !bytes.Contains(clear.Bytes(), b) {
				t.Fatalf("%s: private key bytes not found in a cleartext export: the scan cannot work", tc.name)
			}
		}
		secrets = append(secrets, sk...)
		keys, err := s.PublicKeys(ctx, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		kidList = append(kidList, kids(keys)...)
	}
	// The raw file, as bbolt wrote it. Path is where the store keeps it;
	// ask before Close, after which bbolt no longer reports it.
	path := db.Path()
	if path != dbPath {
		t.Fatalf("Path() = %q, want %q", path, dbPath)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range kidList {
		if !bytes.Contains(raw, []byte(kid)) {
			t.Errorf("kid %s not found in the database file: scanning the wrong bytes?", kid)
		}
	}
	for i, b := range secrets {
		if bytes.Contains(raw, b) {
			t.Errorf("private key %d found in plaintext in the database file", i)
		}
		// Also look for the base64 forms, in case anything serialized it as text.
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			if bytes.Contains(raw, []byte(enc.EncodeToString(b))) {
				t.Errorf("private key %d found base64-encoded in the database file", i)
			}
		}
	}
}

// TestErrorsCarryNoKeyMaterial triggers each failure path and checks that no
// error text contains private key bytes in any encoding.
func TestErrorsCarryNoKeyMaterial(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := t.Context()
	if err := s.Create(ctx, "issuer", Ed25519); err != nil {
		t.Fatal(err)
	}
	secrets, _ := privateKeyBytes(t, s, "issuer")
	wrong, err := Open(s.db, testMaster(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	_, err = wrong.Signer(ctx, "issuer")
	errs = append(errs, err)
	errs = append(errs, s.Retire(ctx, "issuer", "x"))
	sg, _ := s.Signer(ctx, "issuer")
	errs = append(errs, s.Retire(ctx, "issuer", sg.KeyID()))
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		msg := err.Error()
		for _, b := range secrets {
			for _, enc := range []string{string(b), fmt.Sprintf("%x", b), fmt.Sprint(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
				if strings.Contains(msg, enc) {
					t.Errorf("error %q contains key material", msg)
				}
			}
		}
	}
}
