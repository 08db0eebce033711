package vc

import (
	"context"
	"testing"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc/jws"
)

// The fuzz targets check that no input panics the parsers and that every
// rejection carries a reason code.

func FuzzParseCredential(f *testing.F) {
	fx := newFixture(f, newEd25519(f))
	f.Add(fx.credToken)
	f.Add(fx.presToken)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := VerifyCredential(context.Background(), s, fx.keys)
		if err != nil {
			if _, ok := reason.CodeOf(err); !ok {
				t.Fatalf("error without reason code: %v", err)
			}
		}
	})
}

func FuzzParsePresentation(f *testing.F) {
	fx := newFixture(f, newEd25519(f))
	f.Add(fx.presToken)
	f.Add(fx.credToken)
	f.Fuzz(func(t *testing.T, s string) {
		_, err := VerifyPresentation(context.Background(), s, fx.keys)
		if err != nil {
			if _, ok := reason.CodeOf(err); !ok {
				t.Fatalf("error without reason code: %v", err)
			}
		}
	})
}

func FuzzDecodeCredential(f *testing.F) {
	fx := newFixture(f, newEd25519(f))
	tok, _ := jws.Parse(fx.credToken)
	f.Add(tok.Payload)
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","AgentCredential"],"issuer":{"id":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCredential(b)
		if err != nil {
			if _, ok := reason.CodeOf(err); !ok {
				t.Fatalf("error without reason code: %v", err)
			}
			return
		}
		if c.CredentialSubject.ID == "" || c.Issuer.ID == "" {
			t.Fatal("accepted a credential without subject or issuer")
		}
	})
}

func FuzzJWSParse(f *testing.F) {
	fx := newFixture(f, newEd25519(f))
	f.Add(fx.credToken)
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := jws.Parse(s)
		if err != nil {
			if _, ok := reason.CodeOf(err); !ok {
				t.Fatalf("error without reason code: %v", err)
			}
			return
		}
		switch tok.Header.Alg {
		case jws.AlgEdDSA, jws.AlgEd25519, jws.AlgES256:
		default:
			t.Fatalf("accepted alg %q", tok.Header.Alg)
		}
	})
}
