package vc_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
)

type oneKey struct {
	kid string
	pub crypto.PublicKey
}

func (k oneKey) ResolveKey(_ context.Context, kid string, _ did.Relationship) (crypto.PublicKey, error) {
	if kid != k.kid {
		return nil, errors.New("unknown key")
	}
	return k.pub, nil
}

func Example() {
	// The issuer's key (in production: a keystore signer).
	_, issuerKey, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := vc.NewKeySigner(issuerKey, "did:web:issuer.example.com#k1")

	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	until := now.Add(15 * time.Minute)
	c := &vc.Credential{
		Context:   []string{vc.ContextV2, vc.ContextAgentID},
		ID:        "urn:uuid:7f1e0c7e-2f7a-4d1b-8a5e-9b0b8f0f5c11",
		Type:      []string{vc.TypeVerifiableCredential, vc.TypeAgentCredential},
		Issuer:    vc.Issuer{ID: "did:web:issuer.example.com"},
		ValidFrom: &now, ValidUntil: &until,
		CredentialSubject: vc.Subject{
			ID:     "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
			Scopes: []string{"calendar:read"},
		},
	}
	token, err := vc.SignCredential(signer, c, now)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Count(token, "."), "dots")

	got, err := vc.VerifyCredential(context.Background(), token, oneKey{"did:web:issuer.example.com#k1", issuerKey.Public()})
	if err != nil {
		panic(err)
	}
	fmt.Println(got.CredentialSubject.Scopes, got.Sub == got.CredentialSubject.ID)
	// Output:
	// 2 dots
	// [calendar:read] true
}
