package keystore_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/store/boltstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "keystore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The master key comes from AGENTID_MASTER_KEY if set, else from a
	// 0600 file created on first use.
	master, err := keystore.Master(filepath.Join(dir, "master.key"))
	if err != nil {
		log.Fatal(err)
	}
	db, err := boltstore.Open(filepath.Join(dir, "agentid.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ks, err := keystore.Open(db, master, nil)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	if err := ks.Create(ctx, "issuer", keystore.Ed25519); err != nil {
		log.Fatal(err)
	}
	signer, err := ks.Signer(ctx, "issuer")
	if err != nil {
		log.Fatal(err)
	}
	input := []byte("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudCJ9")
	sig, err := signer.Sign(input)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alg:", signer.Alg(), "kid length:", len(signer.KeyID()))
	fmt.Println("verifies:", ed25519.Verify(signer.Public().(ed25519.PublicKey), input, sig))

	// Rotation adds a new primary key; the old one keeps verifying.
	if _, err := ks.Rotate(ctx, "issuer"); err != nil {
		log.Fatal(err)
	}
	keys, err := ks.PublicKeys(ctx, "issuer")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("keys after rotation:", len(keys), "old still listed:", keys[1].KID == signer.KeyID())
	// Output:
	// alg: EdDSA kid length: 43
	// verifies: true
	// keys after rotation: 2 old still listed: true
}
