package oauth

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
)

func links(holders ...string) []vc.DelegationLink {
	var out []vc.DelegationLink
	for _, h := range holders {
		out = append(out, vc.DelegationLink{Credential: "urn:uuid:" + h, Holder: h})
	}
	return out
}

func TestDelegated(t *testing.T) {
	for _, c := range []struct {
		name     string
		chain    []vc.DelegationLink
		wantSub  string
		wantActs []string
		wantJSON string
	}{
		{"root agent", nil, "G", nil, `null`},
		{"depth 1", links("R"), "R", []string{"G"}, `{"sub":"G"}`},
		{"depth 2", links("R", "C"), "R", []string{"G", "C"}, `{"sub":"G","act":{"sub":"C"}}`},
		{"depth 3", links("R", "C", "D"), "R", []string{"G", "D", "C"}, `{"sub":"G","act":{"sub":"D","act":{"sub":"C"}}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub, act := Delegated("G", c.chain)
			b, _ := json.Marshal(act)
			if sub != c.wantSub || !slices.Equal(act.Actors(), c.wantActs) || string(b) != c.wantJSON {
				t.Fatalf("sub %s act %s, want %s %s", sub, b, c.wantSub, c.wantJSON)
			}
		})
	}
}

// TestParseAccessTokenDelegation: a token whose sub, act and delegation
// claims disagree is malformed.
func TestParseAccessTokenDelegation(t *testing.T) {
	k := ed25519.NewKeyFromSeed(make([]byte, 32))
	s, _ := vc.NewKeySigner(k, "did:web:issuer.example.com#k1")
	sub, act := Delegated("G", links("R", "C"))
	good := func() *AccessToken {
		return &AccessToken{Issuer: "https://issuer.example.com", Subject: sub, ClientID: "G", Audience: vc.Audience{"https://api"},
			JTI: "j", IssuedAt: 1, Expiry: 2, Act: act, Delegation: links("R", "C")}
	}
	long := make([]string, MaxChain+1)
	for i := range long {
		long[i] = fmt.Sprint("A", i)
	}
	for _, c := range []struct {
		name   string
		modify func(*AccessToken)
		ok     bool
	}{
		{"consistent", func(*AccessToken) {}, true},
		{"root agent", func(a *AccessToken) { a.Subject, a.Act, a.Delegation = "G", nil, nil }, true},
		{"sub not client_id without chain", func(a *AccessToken) { a.Act, a.Delegation = nil, nil }, false},
		{"act without chain", func(a *AccessToken) { a.Subject, a.Delegation = "G", nil }, false},
		{"sub not the root", func(a *AccessToken) { a.Subject = "G" }, false},
		{"no act", func(a *AccessToken) { a.Act = nil }, false},
		{"act reordered", func(a *AccessToken) { a.Act = &Actor{Subject: "C", Actor: &Actor{Subject: "G"}} }, false},
		{"act missing a prior actor", func(a *AccessToken) { a.Act = &Actor{Subject: "G"} }, false},
		{"act naming the root too", func(a *AccessToken) { a.Act.Actor.Actor = &Actor{Subject: "R"} }, false},
		{"link without credential", func(a *AccessToken) { a.Delegation[1].Credential = "" }, false},
		{"chain too long", func(a *AccessToken) {
			a.Delegation = links(long...)
			a.Subject, a.Act = Delegated("G", a.Delegation)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := good()
			c.modify(at)
			tok, err := SignAccessToken(s, at)
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := ParseAccessToken(tok)
			if c.ok {
				if err != nil || got.Agent() != "G" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if code, _ := reason.CodeOf(err); code != reason.Malformed {
				t.Fatalf("got %v, want malformed", err)
			}
		})
	}
}

// ExampleDelegated shows the sub and act claims of a token for an agent
// two delegations below the root agent of its tree.
func ExampleDelegated() {
	chain := []vc.DelegationLink{
		{Credential: "urn:uuid:1", Holder: "did:key:root"},
		{Credential: "urn:uuid:2", Holder: "did:key:child"},
	}
	sub, act := Delegated("did:key:grandchild", chain)
	b, _ := json.Marshal(act)
	fmt.Println("sub:", sub)
	fmt.Println("act:", string(b))
	// Output:
	// sub: did:key:root
	// act: {"sub":"did:key:grandchild","act":{"sub":"did:key:child"}}
}

// TestFastDecodeDelegatedToken: the claims agentid's issuer writes for a
// sub-agent take the fast path, and decode as encoding/json does.
func TestFastDecodeDelegatedToken(t *testing.T) {
	chain := links("did:key:r", "did:key:c")
	sub, act := Delegated("did:key:g", chain)
	at := &AccessToken{Issuer: "https://issuer.example.com", Subject: sub, ClientID: "did:key:g", Audience: vc.Audience{"https://api"},
		Scope: "a:b", JTI: "j", IssuedAt: 1, Expiry: 2, Confirmation: &Confirmation{JKT: "t"}, CredentialID: "urn:uuid:g",
		CredentialStatus: []vc.StatusEntry{{ID: "u#1", Type: "BitstringStatusListEntry", StatusPurpose: "revocation", StatusListIndex: "1", StatusListCredential: "u"}},
		Act:              act, Delegation: chain}
	b, err := json.Marshal(at)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := fastDecodeAccessToken(b)
	if !ok {
		t.Fatalf("fast path refused %s", b)
	}
	var want AccessToken
	if err := json.Unmarshal(b, &want); err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("fast %+v, encoding/json %+v (%v)", *got, want, err)
	}
}
