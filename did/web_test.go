package did

import (
	"errors"
	"testing"

	"github.com/agentid/agentid/reason"
)

func TestWebURL(t *testing.T) {
	tests := []struct{ did, url string }{
		{"did:web:example.com", "https://example.com/.well-known/did.json"},
		{"did:web:example.com%3A8443", "https://example.com:8443/.well-known/did.json"},
		{"did:web:example.com:user:alice", "https://example.com/user/alice/did.json"},
		{"did:web:issuer.example.com:tenants:a", "https://issuer.example.com/tenants/a/did.json"},
		{"did:web:localhost%3A8080", "https://localhost:8080/.well-known/did.json"},
		{"did:web:localhost", "https://localhost/.well-known/did.json"},
		{"did:web:xn--bcher-kva.example", "https://xn--bcher-kva.example/.well-known/did.json"},
		{"did:web:a-b.example.com:v1.0:Keys_x", "https://a-b.example.com/v1.0/Keys_x/did.json"},
		{"did:web:example.com:a:.well-known", "https://example.com/a/.well-known/did.json"},
		{"did:web:example.com:...", "https://example.com/.../did.json"},
		{"did:web:9.example.com", "https://9.example.com/.well-known/did.json"},
	}
	for _, tt := range tests {
		t.Run(tt.did, func(t *testing.T) {
			got, err := WebURL(tt.did)
			if err != nil || got != tt.url {
				t.Fatalf("WebURL = %q, %v; want %q", got, err, tt.url)
			}
			back, err := WebDID(got)
			if err != nil || back != tt.did {
				t.Fatalf("WebDID(%q) = %q, %v; want %q", got, back, err, tt.did)
			}
		})
	}
}

func TestWebURLErrors(t *testing.T) {
	tests := []struct{ name, did string }{
		{"not did:web", "did:key:example.com"},
		{"empty host", "did:web:"},
		{"empty host with path", "did:web::path"},
		{"IPv4", "did:web:127.0.0.1"},
		{"IPv4 with port", "did:web:10.0.0.1%3A443"},
		{"IPv6", "did:web:[::1]"},
		{"IPv6 encoded", "did:web:%5B%3A%3A1%5D"},
		{"hex IP", "did:web:0x7f000001"},
		{"numeric host", "did:web:2130706433"},
		{"numeric last label", "did:web:example.123"},
		{"upper-case host", "did:web:Example.com"},
		{"trailing dot", "did:web:example.com."},
		{"empty label", "did:web:example..com"},
		{"leading hyphen label", "did:web:-example.com"},
		{"trailing hyphen label", "did:web:example-.com"},
		{"underscore host", "did:web:ex_ample.com"},
		{"long label", "did:web:" + string(make([]byte, 0)) + "a123456789012345678901234567890123456789012345678901234567890123.com"},
		{"lower-case port escape", "did:web:example.com%3a8443"},
		{"empty port", "did:web:example.com%3A"},
		{"port zero", "did:web:example.com%3A0"},
		{"port leading zero", "did:web:example.com%3A080"},
		{"port too big", "did:web:example.com%3A65536"},
		{"port not a number", "did:web:example.com%3Ahttps"},
		{"two ports", "did:web:example.com%3A80%3A81"},
		{"userinfo", "did:web:user%40example.com"},
		{"encoded slash host", "did:web:example.com%2Fevil"},
		{"dot-dot segment", "did:web:example.com:..:secret"},
		{"dot segment", "did:web:example.com:."},
		{"empty segment", "did:web:example.com::a"},
		{"trailing colon", "did:web:example.com:"},
		{"encoded slash segment", "did:web:example.com:a%2F..%2Fb"},
		{"encoded dot-dot", "did:web:example.com:%2E%2E"},
		{"well-known first", "did:web:example.com:.well-known"},
		{"fragment", "did:web:example.com#key-1"},
		{"query", "did:web:example.com?x"},
		{"slash path", "did:web:example.com/a"},
		{"space", "did:web:exa mple.com"},
		{"unicode host", "did:web:bücher.example"},
		{"too long", "did:web:example.com:" + string(make([]byte, 2000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WebURL(tt.did)
			if got != "" {
				t.Fatalf("WebURL = %q", got)
			}
			wantCode(t, err, CodeInvalidDID)
			if !errors.Is(err, reason.Malformed) {
				t.Fatalf("not malformed: %v", err)
			}
		})
	}
}

func TestWebDID(t *testing.T) {
	tests := []struct{ url, did string }{
		{"http://localhost:8080", "did:web:localhost%3A8080"},
		{"http://localhost:8080/", "did:web:localhost%3A8080"},
		{"http://LOCALHOST:8080", "did:web:localhost%3A8080"},
		{"https://issuer.example.com/tenants/a", "did:web:issuer.example.com:tenants:a"},
		{"https://issuer.example.com/tenants/a/", "did:web:issuer.example.com:tenants:a"},
		{"https://issuer.example.com/tenants/a/did.json", "did:web:issuer.example.com:tenants:a"},
		{"https://Issuer.Example.com", "did:web:issuer.example.com"},
		{"https://example.com/.well-known/did.json", "did:web:example.com"},
		{"https://example.com:8443/", "did:web:example.com%3A8443"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := WebDID(tt.url)
			if err != nil || got != tt.did {
				t.Fatalf("WebDID = %q, %v; want %q", got, err, tt.did)
			}
		})
	}
}

func TestWebDIDErrors(t *testing.T) {
	tests := []struct{ name, url string }{
		{"http non-localhost", "http://example.com"},
		{"http IP loopback", "http://127.0.0.1:8080"},
		{"https IP", "https://192.0.2.1"},
		{"https IPv6", "https://[::1]:8443"},
		{"ftp", "ftp://example.com"},
		{"no scheme", "example.com"},
		{"relative", "/a/b"},
		{"userinfo", "https://user:pw@example.com"},
		{"query", "https://example.com/?a=b"},
		{"empty query", "https://example.com/?"},
		{"fragment", "https://example.com/#x"},
		{"dot-dot", "https://example.com/a/../b"},
		{"empty segment", "https://example.com/a//b"},
		{"encoded char", "https://example.com/a%20b"},
		{"well-known only", "https://example.com/.well-known"},
		{"root did.json", "https://example.com/did.json"},
		{"empty port", "https://example.com:/"},
		{"bad port", "https://example.com:99999"},
		{"opaque", "https:example.com"},
		{"unparseable", "https://exa mple.com"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WebDID(tt.url)
			if got != "" {
				t.Fatalf("WebDID = %q", got)
			}
			wantCode(t, err, CodeInvalidDID)
		})
	}
}
