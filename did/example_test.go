package did_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/reason"
)

func agentKey() ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
}

func ExampleKeyFromPublic() {
	id, err := did.KeyFromPublic(agentKey())
	if err != nil {
		panic(err)
	}
	fmt.Println(id)
	pub, _ := did.PublicKeyFromKey(id)
	fmt.Println(agentKey().Equal(pub))
	// Output:
	// did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp
	// true
}

func ExampleMultiResolver_ResolveKey() {
	r := did.NewMultiResolver(nil) // did:key and did:jwk only
	kid := "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
	pub, err := r.ResolveKey(context.Background(), kid, did.AssertionMethod)
	fmt.Println(agentKey().Equal(pub), err)

	// A fragment naming some other key is refused as an unknown key.
	_, err = r.ResolveKey(context.Background(), "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#key-1", did.AssertionMethod)
	fmt.Println(errors.Is(err, reason.UnknownKey))

	// X25519 keys cannot sign.
	_, err = did.PublicKeyFromKey("did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
	var re *did.ResolutionError
	fmt.Println(errors.As(err, &re), re.Code)
	// Output:
	// true <nil>
	// true
	// true invalidPublicKeyType
}

func ExampleWebURL() {
	for _, id := range []string{
		"did:web:issuer.example.com",
		"did:web:issuer.example.com:tenants:a",
		"did:web:localhost%3A8080",
	} {
		u, _ := did.WebURL(id)
		fmt.Println(u)
	}
	_, err := did.WebURL("did:web:192.0.2.1")
	fmt.Println(errors.Is(err, reason.Malformed))
	back, _ := did.WebDID("http://localhost:8080")
	fmt.Println(back)
	// Output:
	// https://issuer.example.com/.well-known/did.json
	// https://issuer.example.com/tenants/a/did.json
	// https://localhost:8080/.well-known/did.json
	// true
	// did:web:localhost%3A8080
}

func ExampleThumbprint() {
	tp, _ := did.Thumbprint(agentKey())
	fmt.Println(tp)
	jwk, _ := did.PublicJWK(agentKey())
	b, _ := json.Marshal(jwk)
	fmt.Println(string(b))
	// Output:
	// 9ZP03Nu8GrXPAUkbKNxHOKBzxPX83SShgFkRNK-f2lw
	// {"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}
}

// An issuer serves its did:web document; a verifier resolves a kid from it.
func ExampleNewWebDocument() {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	issuer, _ := did.WebDID("http://localhost:" + u.Port())

	doc := did.NewWebDocument(issuer, []did.WebKey{{ID: "key-1", Public: agentKey()}})
	mux.HandleFunc("/.well-known/did.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/did+json")
		json.NewEncoder(w).Encode(doc)
	})

	web := did.NewWebResolver(did.WebOptions{AllowHTTPLocalhost: true})
	r := did.NewMultiResolver(web)
	pub, err := r.ResolveKey(context.Background(), issuer+"#key-1", did.AssertionMethod)
	fmt.Println(agentKey().Equal(pub), err)
	_, err = r.ResolveKey(context.Background(), issuer+"#key-1", did.CapabilityDelegation)
	fmt.Println(errors.Is(err, reason.UnknownKey))
	// Output:
	// true <nil>
	// true
}
