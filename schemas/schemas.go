// Package schemas holds the JSON Schema of the AgentCredential and the
// JSON-LD context that defines its terms, embedded in the binary, and
// validates credentials against the schema.
//
// The issuer validates every credential before it signs it, and serves both
// files (GET /schemas/agent-credential-v1.json and
// GET /contexts/agentid-v1.jsonld). Verifiers and JSON-LD processors must use
// these pinned copies, never fetch them at verification time.
//
//	v, err := schemas.NewValidator()
//	err = v.ValidateCredential(payload) // *reason.Error with code schema_invalid
package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/agentid/agentid/reason"
)

// File names, as served under /schemas/ and /contexts/.
const (
	AgentCredentialSchema = "agent-credential-v1.schema.json"
	AgentIDContext        = "agentid-v1.jsonld"
	// SchemaID is the schema's $id.
	SchemaID = "https://agentid.dev/schemas/agent-credential-v1.json"
)

//go:embed agent-credential-v1.schema.json agentid-v1.jsonld
var files embed.FS

// Files returns the embedded files, for serving.
func Files() fs.FS { return files }

// Validator validates AgentCredential payloads. It is safe for concurrent
// use.
type Validator struct {
	schema *jsonschema.Schema
}

// NewValidator compiles the embedded AgentCredential schema.
func NewValidator() (*Validator, error) {
	raw, err := files.ReadFile(AgentCredentialSchema)
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schemas: parse schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		return nil, fmt.Errorf("schemas: compile: %w", err)
	}
	return &Validator{schema: s}, nil
}

// ValidateCredential validates a credential's JSON (the vc+jwt payload).
// A failure is a *reason.Error with code schema_invalid.
func (v *Validator) ValidateCredential(payload []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return reason.Wrap(reason.SchemaInvalid, "credential is not JSON", err)
	}
	if err := v.schema.Validate(inst); err != nil {
		return reason.Wrap(reason.SchemaInvalid, "credential does not match "+AgentCredentialSchema, err)
	}
	return nil
}
