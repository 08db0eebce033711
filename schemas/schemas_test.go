package schemas

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/agentid/agentid/reason"
)

const validCredential = `{
  "@context": ["https://www.w3.org/ns/credentials/v2", "https://agentid.dev/contexts/v1"],
  "id": "urn:uuid:0b9c1c9e-7a6e-4c1c-9d51-2b1f0f3c9a10",
  "type": ["VerifiableCredential", "AgentCredential"],
  "issuer": "did:web:issuer.example.com",
  "validFrom": "2026-11-22T18:00:00Z",
  "validUntil": "2026-11-22T18:15:00Z",
  "credentialSubject": {
    "id": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    "scopes": ["calendar:read", "calendar:write"],
    "audiences": ["https://calendar.example.com"],
    "owner": "team-payments",
    "purpose": "summarise meeting notes",
    "delegatedBy": "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
    "onBehalfOf": "user:alice@example.com",
    "constraints": {"sourceNetworks": ["10.0.0.0/8"], "rateLimit": "600/m",
                    "timeWindow": {"start": "08:00", "end": "18:00", "tz": "UTC"}}
  },
  "credentialStatus": [
    {"id": "https://issuer.example.com/status/revocation/0#94567", "type": "BitstringStatusListEntry",
     "statusPurpose": "revocation", "statusListIndex": "94567",
     "statusListCredential": "https://issuer.example.com/status/revocation/0"}
  ],
  "credentialSchema": {"id": "https://issuer.example.com/schemas/agent-credential-v1.json", "type": "JsonSchema"},
  "iss": "did:web:issuer.example.com", "jti": "urn:uuid:0b9c1c9e-7a6e-4c1c-9d51-2b1f0f3c9a10", "iat": 1795370000, "exp": 1795370900
}`

// mutate decodes the valid credential, applies f and re-encodes it.
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(validCredential), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func subject(m map[string]any) map[string]any { return m["credentialSubject"].(map[string]any) }

func TestValidateCredential(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateCredential([]byte(validCredential)); err != nil {
		t.Fatalf("valid credential rejected: %v", err)
	}
	bad := []struct {
		name string
		f    func(m map[string]any)
	}{
		{"v1 context", func(m map[string]any) { m["@context"] = []any{"https://www.w3.org/2018/credentials/v1"} }},
		{"missing AgentCredential type", func(m map[string]any) { m["type"] = []any{"VerifiableCredential"} }},
		{"issuer not did:web", func(m map[string]any) { m["issuer"] = "https://issuer.example.com" }},
		{"no validUntil", func(m map[string]any) { delete(m, "validUntil") }},
		{"date without zone", func(m map[string]any) { m["validFrom"] = "2026-11-22T18:00:00" }},
		{"wildcard scope", func(m map[string]any) { subject(m)["scopes"] = []any{"calendar:*"} }},
		{"scope without action", func(m map[string]any) { subject(m)["scopes"] = []any{"calendar"} }},
		{"empty scopes", func(m map[string]any) { subject(m)["scopes"] = []any{} }},
		{"unknown subject member", func(m map[string]any) { subject(m)["admin"] = true }},
		{"subject not a DID", func(m map[string]any) { subject(m)["id"] = "agent-7" }},
		{"bad rate limit", func(m map[string]any) {
			subject(m)["constraints"] = map[string]any{"rateLimit": "lots"}
		}},
		{"bad clock", func(m map[string]any) {
			subject(m)["constraints"] = map[string]any{"timeWindow": map[string]any{"start": "25:00", "end": "18:00"}}
		}},
		{"status purpose unknown", func(m map[string]any) {
			m["credentialStatus"].([]any)[0].(map[string]any)["statusPurpose"] = "message"
		}},
		{"status index not a string", func(m map[string]any) {
			m["credentialStatus"].([]any)[0].(map[string]any)["statusListIndex"] = 5
		}},
		{"vc claim present", func(m map[string]any) { m["vc"] = map[string]any{} }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := v.ValidateCredential(mutate(t, tc.f))
			if !errors.Is(err, reason.SchemaInvalid) {
				t.Fatalf("got %v, want schema_invalid", err)
			}
		})
	}
	if err := v.ValidateCredential([]byte("{not json")); !errors.Is(err, reason.SchemaInvalid) {
		t.Fatalf("non-JSON: got %v", err)
	}
}

func TestContextIsJSON(t *testing.T) {
	b, err := files.ReadFile(AgentIDContext)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, term := range []string{"AgentCredential", "scopes", "audiences", "owner", "purpose", "delegatedBy", "onBehalfOf", "constraints"} {
		if _, ok := m["@context"][term]; !ok {
			t.Errorf("context does not define %q", term)
		}
	}
}
