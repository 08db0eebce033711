package console_test

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/agentid/agentid/client"
	"github.com/agentid/agentid/internal/console"
)

// SignInLink is what `agentid console` prints: a one-time link to the
// console's sign-in URL, carrying a vp+jwt signed by the principal key.
func ExampleSignInLink() {
	key, _ := client.KeyFromSigner(ed25519.NewKeyFromSeed(make([]byte, 32)))
	link, err := console.SignInLink(key.Signer, key.DID, "https://issuer.example.com", time.Unix(1795370000, 0))
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.SplitN(link, "=", 2)[0])
	fmt.Println(console.ConsoleURL("https://issuer.example.com"))
	// Output:
	// https://issuer.example.com/console/signin?token
	// https://issuer.example.com/console/
}
