package api_test

// The api types must encode exactly as the server's own types do: these
// tests fill the server's values, decode them into the api types and check
// that both encode to the same bytes, and the other way round.

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/internal/problem"
	"github.com/agentid/agentid/internal/server"
	"github.com/agentid/agentid/issuer"
	"github.com/agentid/agentid/vc"
)

func TestWireCompatible(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 123, time.UTC)
	later := now.Add(time.Hour)
	entry := vc.StatusEntry{ID: "https://i.example/status/revocation/0#7", Type: "BitstringStatusListEntry",
		StatusPurpose: "revocation", StatusListIndex: "7", StatusListCredential: "https://i.example/status/revocation/0"}
	agent := issuer.Agent{DID: "did:key:zA", Owner: "o", Purpose: "p", Scopes: []string{"a:b"}, Audiences: []string{"https://r"},
		OnBehalfOf: "u", Constraints: &vc.Constraints{SourceNetworks: []string{"10.0.0.0/8"}, RateLimit: "5/s"},
		TTL: issuer.Duration(15 * time.Minute), CreatedBy: "did:key:zP", CreatedAt: now, RegistrationExpires: later,
		CurrentCredential: "urn:uuid:1", CredentialExpires: later, Credentials: []string{"urn:uuid:1"},
		Retired: true, RetiredAt: &later, LastSeen: &now, Status: issuer.StatusRetired}
	tests := []struct {
		name        string
		server, api any // a filled server value; a pointer to a zero api value
	}{
		{"Agent", agent, new(api.Agent)},
		{"Agent zero", issuer.Agent{}, new(api.Agent)},
		{"Principal", issuer.Principal{DID: "did:key:zP", Role: issuer.RoleOrchestrator, Name: "n", Ceiling: []string{"a:*"},
			Audiences: []string{"https://r"}, MaxTTL: issuer.Duration(time.Hour), CreatedAt: now, CreatedBy: "did:key:zQ"}, new(api.Principal)},
		{"Principal zero", issuer.Principal{}, new(api.Principal)},
		{"Credential", issuer.Credential{ID: "urn:uuid:1", Agent: "did:key:zA", IssuedBy: "did:key:zP", IssuedAt: now, ValidUntil: later,
			Revocation: entry, Suspension: entry, Revoked: true, Suspended: true}, new(api.Credential)},
		{"IssueRequest", issuer.IssueRequest{Agent: "did:key:zA", Proof: "x.y.z", Scopes: []string{"a:b"}, Audiences: []string{"https://r"},
			TTL: issuer.Duration(time.Minute), Lifetime: issuer.Duration(time.Hour), Owner: "o", Purpose: "p", OnBehalfOf: "u",
			Constraints: &vc.Constraints{RateLimit: "1/m"}}, new(api.IssueRequest)},
		{"IssueRequest zero", issuer.IssueRequest{}, new(api.IssueRequest)},
		{"Issued", issuer.Issued{Credential: "x.y.z", ID: "urn:uuid:1", ValidUntil: later, Agent: &agent}, new(api.Issued)},
		{"KeyInfo", server.KeyInfo{KID: "did:web:i#k1", Alg: "EdDSA", Primary: true, Created: now}, new(api.KeyInfo)},
		{"VerifyRequest", server.VerifyRequest{Presentation: "x.y.z", Audience: "https://r", Nonce: "n", Method: "GET",
			URL: "https://r/v1", Scopes: []string{"a:b"}, SourceIP: "10.0.0.1"}, new(api.VerifyRequest)},
		{"VerifyResponse valid", server.VerifyResponse{Valid: true, Agent: "did:key:zA", Issuer: "did:web:i", Scopes: []string{"a:b"},
			Owner: "o", CredentialID: "urn:uuid:1", ExpiresAt: &later}, new(api.VerifyResponse)},
		{"VerifyResponse refused", server.VerifyResponse{Error: &server.VerifyError{Code: "revoked", Detail: "d"}}, new(api.VerifyResponse)},
		{"Problem", problem.New(403, "forbidden", "admins only"), new(api.Problem)},
		{"Problem without detail", problem.New(500, "internal", ""), new(api.Problem)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.server)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(want, tt.api); err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(tt.api)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("api encodes\n  %s\nserver encodes\n  %s", got, want)
			}
			// And back: the server reads what the api type writes, strictly.
			back := reflect.New(reflect.TypeOf(tt.server))
			d := json.NewDecoder(bytes.NewReader(got))
			d.DisallowUnknownFields()
			if err := d.Decode(back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), tt.server) {
				t.Errorf("round trip changed the value:\n  %+v\n  %+v", back.Elem().Interface(), tt.server)
			}
		})
	}
}
