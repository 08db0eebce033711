package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/client"
)

// A resource API asks the issuer's verifier service about a presentation.
// The fake server here answers as `agentid serve` does for a revoked
// credential.
func ExampleClient_Verify() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"valid":false,"error":{"code":"revoked","detail":"credential is revoked"}}`)
	}))
	defer srv.Close()

	cl := client.New(srv.URL, nil) // the verifier service is public
	res, err := cl.Verify(context.Background(), api.VerifyRequest{
		Presentation: "eyJ...", Audience: "https://calendar.example.com",
		Method: "GET", URL: "https://calendar.example.com/v1/events", Scopes: []string{"calendar:read"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Valid, res.Error.Code)
	// Output: false revoked
}

// Server refusals are *client.Error values with the problem's code.
func ExampleError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"type":"https://agentid.dev/problems/forbidden","title":"Forbidden","status":403,"code":"forbidden","detail":"admins only"}`)
	}))
	defer srv.Close()

	key, err := client.GenerateKey(client.Ed25519)
	if err != nil {
		panic(err)
	}
	_, err = client.New(srv.URL, key).Principals(context.Background())
	var e *client.Error
	if errors.As(err, &e) && e.Code == api.CodeForbidden {
		fmt.Println(e.StatusCode, e.Code, e.Detail)
	}
	fmt.Println(err)
	// Output:
	// 403 forbidden admins only
	// forbidden (HTTP 403): admins only
}
