package did

import (
	"net"
	"net/url"
	"strings"
)

const (
	webPrefix = "did:web:"
	// maxWebDIDLen bounds did:web input. DNS names are at most 253 bytes;
	// the rest leaves ample room for a path.
	maxWebDIDLen = 1024
)

// webID is a parsed did:web DID.
type webID struct {
	host string   // DNS name, lower case
	port string   // decimal port, or ""
	path []string // path segments, possibly none
}

// WebURL maps a did:web DID to the HTTPS URL of its DID document, as the
// did:web specification describes:
//
//	did:web:example.com                 -> https://example.com/.well-known/did.json
//	did:web:example.com%3A8443          -> https://example.com:8443/.well-known/did.json
//	did:web:example.com:user:alice      -> https://example.com/user/alice/did.json
//
// This package accepts a strict, canonical subset of did:web so that every
// accepted DID names exactly one URL and vice versa: the host must be a
// lower-case DNS name (no IP addresses, no trailing dot, the last label
// starting with a letter); the only percent-encoding allowed is "%3A"
// before the port; path segments consist of ASCII letters, digits, '.',
// '-' and '_', are not "." or "..", and the first is not ".well-known".
//
// WebURL always returns https. [WebResolver] switches to http for
// localhost when [WebOptions].AllowHTTPLocalhost is set.
func WebURL(did string) (string, error) {
	w, err := parseWeb(did)
	if err != nil {
		return "", err
	}
	return w.url("https"), nil
}

// WebDID is the inverse of [WebURL]: it maps an https base URL, or the URL
// of the DID document itself, to a did:web DID.
//
//	https://issuer.example.com                  -> did:web:issuer.example.com
//	https://issuer.example.com/tenants/a        -> did:web:issuer.example.com:tenants:a
//	https://issuer.example.com/.well-known/did.json -> did:web:issuer.example.com
//	http://localhost:8080                       -> did:web:localhost%3A8080
//
// Plain http is accepted only for the host localhost. The host is
// lower-cased; URLs with credentials, a query or a fragment are refused, as
// are hosts and paths WebURL would refuse.
func WebDID(rawURL string) (string, error) {
	if len(rawURL) > maxWebDIDLen {
		return "", fail(CodeInvalidDID, "", "URL is too long")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fail(CodeInvalidDID, "", "invalid URL: %v", err)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && host == "localhost":
	default:
		return "", fail(CodeInvalidDID, "", "did:web needs an https URL (http only for localhost)")
	}
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" {
		return "", fail(CodeInvalidDID, "", "did:web URL must not have credentials, a query or a fragment")
	}
	w := webID{host: host, port: u.Port()}
	if strings.HasSuffix(u.Host, ":") && w.port == "" {
		return "", fail(CodeInvalidDID, "", "empty port in URL")
	}
	p := u.EscapedPath()
	switch {
	case p == "/.well-known/did.json":
		p = ""
	case p == "/did.json":
		return "", fail(CodeInvalidDID, "", "a root DID document lives at /.well-known/did.json, not /did.json")
	case strings.HasSuffix(p, "/did.json"):
		p = strings.TrimSuffix(p, "/did.json")
	default:
		p = strings.TrimSuffix(p, "/")
	}
	if p != "" {
		w.path = strings.Split(strings.TrimPrefix(p, "/"), "/")
		if !strings.HasPrefix(p, "/") {
			return "", fail(CodeInvalidDID, "", "relative URL path")
		}
	}
	if err := w.validate(); err != nil {
		return "", err
	}
	return w.did(), nil
}

// parseWeb parses and validates a did:web DID.
func parseWeb(did string) (webID, *ResolutionError) {
	if !strings.HasPrefix(did, webPrefix) {
		return webID{}, fail(CodeInvalidDID, did, "not a did:web DID")
	}
	if len(did) > maxWebDIDLen {
		return webID{}, fail(CodeInvalidDID, did, "DID is too long")
	}
	segs := strings.Split(did[len(webPrefix):], ":")
	var w webID
	w.host, w.port, _ = strings.Cut(segs[0], "%3A")
	if strings.HasSuffix(segs[0], "%3A") {
		return webID{}, fail(CodeInvalidDID, did, "empty port")
	}
	w.path = segs[1:]
	if err := w.validate(); err != nil {
		err.DID = did
		return webID{}, err
	}
	return w, nil
}

func (w webID) validate() *ResolutionError {
	if !validHost(w.host) {
		return fail(CodeInvalidDID, "", "did:web host %q is not a lower-case DNS name (IP addresses are not allowed)", trunc(w.host))
	}
	if w.port != "" && !validPort(w.port) {
		return fail(CodeInvalidDID, "", "invalid port %q", trunc(w.port))
	}
	for i, s := range w.path {
		if !validSegment(s) {
			return fail(CodeInvalidDID, "", "invalid path segment %q", trunc(s))
		}
		if i == 0 && s == ".well-known" {
			return fail(CodeInvalidDID, "", "path must not start with .well-known")
		}
	}
	return nil
}

func (w webID) did() string {
	var b strings.Builder
	b.WriteString(webPrefix)
	b.WriteString(w.host)
	if w.port != "" {
		b.WriteString("%3A")
		b.WriteString(w.port)
	}
	for _, s := range w.path {
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

func (w webID) url(scheme string) string {
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(w.host)
	if w.port != "" {
		b.WriteByte(':')
		b.WriteString(w.port)
	}
	if len(w.path) == 0 {
		b.WriteString("/.well-known")
	}
	for _, s := range w.path {
		b.WriteByte('/')
		b.WriteString(s)
	}
	b.WriteString("/did.json")
	return b.String()
}

// validHost reports whether h is a lower-case DNS name that cannot be read
// as an IP address: labels of [a-z0-9-], not starting or ending with '-',
// and a last label that starts with a letter (so "127.0.0.1", "0x7f000001"
// and "1" are refused, as resolvers may treat them as addresses).
func validHost(h string) bool {
	if h == "" || len(h) > 253 || net.ParseIP(h) != nil {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return 'a' <= last[0] && last[0] <= 'z'
}

// validPort accepts 1-65535 written without leading zeros.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// validSegment accepts a non-empty path segment of unreserved characters
// that is not a dot segment.
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
