package keystore

import (
	"errors"
	"slices"
	"testing"

	"github.com/agentid/agentid/store"
)

// TestRotateTx rotates inside a caller's transaction. A transaction the
// caller then fails leaves the keyset as it was, for this Store (whose
// cache is warm) and for a fresh one reading the database; a transaction
// that commits makes the new key primary, and Signer returns it at once.
func TestRotateTx(t *testing.T) {
	for _, alg := range []Algorithm{Ed25519, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			s := newTestStore(t, nil)
			ctx := t.Context()
			if err := s.Create(ctx, "issuer", alg); err != nil {
				t.Fatal(err)
			}
			old, err := s.Signer(ctx, "issuer") // warms the cache
			if err != nil {
				t.Fatal(err)
			}
			before, err := s.PublicKeys(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("signing input")

			// A rotation in a transaction the caller fails afterwards.
			errCaller := errors.New("caller failed after rotating")
			var rolledBack PublicKey
			err = s.db.Update(ctx, func(tx store.Tx) error {
				nk, err := s.RotateTx(tx, "issuer")
				if err != nil {
					return err
				}
				rolledBack = nk
				if err := tx.Bucket("test.marker").Put([]byte("k"), []byte("v")); err != nil {
					return err
				}
				return errCaller
			})
			if !errors.Is(err, errCaller) {
				t.Fatalf("Update = %v, want the caller's error", err)
			}
			if !rolledBack.Primary || rolledBack.KID == "" || rolledBack.KID == old.KeyID() {
				t.Fatalf("RotateTx() = %+v, want a new primary key", rolledBack)
			}
			fresh := &Store{db: s.db, master: s.master, now: s.now, cache: map[string]*loaded{}}
			for who, st := range map[string]*Store{"same store": s, "fresh store": fresh} {
				keys, err := st.PublicKeys(ctx, "issuer")
				if err != nil {
					t.Fatal(err)
				}
				if got, want := kids(keys), kids(before); !slices.Equal(got, want) {
					t.Errorf("%s: PublicKeys() after a failed RotateTx = %v, want %v", who, got, want)
				}
				if slices.Contains(kids(keys), rolledBack.KID) {
					t.Errorf("%s: the rolled-back key %s is listed", who, rolledBack.KID)
				}
				sg, err := st.Signer(ctx, "issuer")
				if err != nil {
					t.Fatal(err)
				}
				if sg.KeyID() != old.KeyID() {
					t.Errorf("%s: Signer().KeyID() after a failed RotateTx = %s, want %s", who, sg.KeyID(), old.KeyID())
				}
				sig, err := sg.Sign(msg)
				if err != nil {
					t.Fatal(err)
				}
				if !verify(t, before[0].Public, msg, sig) {
					t.Errorf("%s: signature after a failed RotateTx does not verify with the old primary key", who)
				}
			}
			if err := s.db.View(ctx, func(tx store.Tx) error {
				if tx.Bucket("test.marker").Get([]byte("k")) != nil {
					t.Error("the caller's write in the failed transaction was kept")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}

			// A rotation in a transaction that commits.
			var nk PublicKey
			err = s.db.Update(ctx, func(tx store.Tx) error {
				var err error
				nk, err = s.RotateTx(tx, "issuer")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !nk.Primary || nk.KID == old.KeyID() || nk.KID == rolledBack.KID || nk.Alg != string(alg) {
				t.Fatalf("RotateTx() = %+v, want a new primary %s key", nk, alg)
			}
			if nk.KID != joseThumbprint(t, nk.Public) {
				t.Errorf("rotated kid %q is not the thumbprint of its key", nk.KID)
			}
			cur, err := s.Signer(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			if cur.KeyID() != nk.KID {
				t.Errorf("Signer().KeyID() right after a committed RotateTx = %s, want %s", cur.KeyID(), nk.KID)
			}
			sig, err := cur.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !verify(t, nk.Public, msg, sig) {
				t.Error("signature after RotateTx does not verify with the new key")
			}
			keys, err := s.PublicKeys(ctx, "issuer")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := kids(keys), []string{nk.KID, old.KeyID()}; !slices.Equal(got, want) {
				t.Errorf("PublicKeys() after a committed RotateTx = %v, want %v", got, want)
			}
			if !keys[0].Primary || keys[1].Primary {
				t.Errorf("PublicKeys() primary flags = %v, %v; want true, false", keys[0].Primary, keys[1].Primary)
			}
		})
	}
}

// TestRotateTxErrors: RotateTx refuses a read-only transaction, an invalid
// name and a missing keyset, and changes nothing.
func TestRotateTxErrors(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := t.Context()
	if err := s.Create(ctx, "issuer", Ed25519); err != nil {
		t.Fatal(err)
	}
	before, err := s.PublicKeys(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.View(ctx, func(tx store.Tx) error {
		_, err := s.RotateTx(tx, "issuer")
		return err
	})
	if !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("RotateTx in a read-only transaction: err = %v, want store.ErrReadOnly", err)
	}
	for name, want := range map[string]error{"nope": ErrNotFound, "a/b": ErrInvalidName} {
		err := s.db.Update(ctx, func(tx store.Tx) error {
			_, err := s.RotateTx(tx, name)
			return err
		})
		if !errors.Is(err, want) {
			t.Errorf("RotateTx(%q): err = %v, want %v", name, err, want)
		}
	}
	after, err := s.PublicKeys(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids(after), kids(before)) {
		t.Errorf("PublicKeys() after refused RotateTx calls = %v, want %v", kids(after), kids(before))
	}
}

// TestSignerTx: inside a transaction, SignerTx gives the primary key of
// that transaction's snapshot — the one a RotateTx before it in the same
// transaction made — and a rolled-back rotation leaves nothing behind in
// the cache: Signer and SignerTx afterwards give the old primary.
func TestSignerTx(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := t.Context()
	if err := s.Create(ctx, "issuer", Ed25519); err != nil {
		t.Fatal(err)
	}
	var first string
	if err := s.db.View(ctx, func(tx store.Tx) error {
		sg, err := s.SignerTx(tx, "issuer")
		if err == nil {
			first = sg.KeyID()
		}
		return err
	}); err != nil || first == "" {
		t.Fatalf("SignerTx in a read transaction: %q, %v", first, err)
	}
	if sg, err := s.Signer(ctx, "issuer"); err != nil || sg.KeyID() != first {
		t.Fatalf("Signer = %v, %v; want %s", sg, err, first)
	}

	errCaller := errors.New("caller failed")
	err := s.db.Update(ctx, func(tx store.Tx) error {
		nk, err := s.RotateTx(tx, "issuer")
		if err != nil {
			return err
		}
		sg, err := s.SignerTx(tx, "issuer")
		if err != nil {
			return err
		}
		if sg.KeyID() != nk.KID || sg.KeyID() == first {
			t.Errorf("SignerTx after RotateTx in the same transaction = %s, want the new key %s", sg.KeyID(), nk.KID)
		}
		return errCaller
	})
	if !errors.Is(err, errCaller) {
		t.Fatal(err)
	}
	s.mu.Lock()
	cached := s.cache["issuer"]
	s.mu.Unlock()
	if cached == nil || cached.signer.KeyID() != first {
		t.Fatal("the rolled-back rotation's keyset was cached")
	}
	if sg, err := s.Signer(ctx, "issuer"); err != nil || sg.KeyID() != first {
		t.Fatalf("Signer after the rollback = %v, %v; want the old primary %s", sg, err, first)
	}
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		sg, err := s.SignerTx(tx, "issuer")
		if err == nil && sg.KeyID() != first {
			t.Errorf("SignerTx after the rollback = %s, want %s", sg.KeyID(), first)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// A committed rotation is what the next transaction signs with.
	nk, err := s.Rotate(ctx, "issuer")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.View(ctx, func(tx store.Tx) error {
		sg, err := s.SignerTx(tx, "issuer")
		if err == nil && sg.KeyID() != nk.KID {
			t.Errorf("SignerTx after Rotate = %s, want %s", sg.KeyID(), nk.KID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
