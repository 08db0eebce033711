// Package strictjson checks JSON for the ambiguities encoding/json lets
// through, so that a signed payload means one thing to every parser:
// duplicate member names (encoding/json keeps the last, other libraries
// the first), member names that match a known name only case-insensitively
// (encoding/json folds case, most libraries do not), and bytes that are
// not UTF-8 (encoding/json replaces them). agentid runs Check before every
// encoding/json decode of signed data: JWS headers, credentials,
// presentations and status list credentials.
//
//	var names = strictjson.NewVocab(Credential{})
//	if err := strictjson.Check(payload, names); err != nil { … } // malformed
//
// Check also refuses what is not one well-formed JSON value (with
// whitespace around it) and nesting deeper than MaxDepth; it allocates only
// for member names that carry escapes and for objects of many members.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects.
const MaxDepth = 64

// ErrAmbiguous is wrapped by every error of Check.
var ErrAmbiguous = errors.New("strictjson: ambiguous or invalid JSON")

// Vocab is the set of member names a decoder knows (the json tags of its
// types). A member name that equals one of them only when case is folded
// is refused; names outside the vocabulary are left to the decoder.
type Vocab struct {
	names [][]byte
}

// NewVocab collects the JSON member names of the struct types of vs and of
// every struct type reachable from them (fields, pointers, slices, arrays,
// maps), as encoding/json would name them. A type with its own
// UnmarshalJSON is not looked into: add the names it decodes with
// NewVocabNames (Vocab.With).
func NewVocab(vs ...any) *Vocab {
	seen := map[reflect.Type]bool{}
	set := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || reflect.PointerTo(t).Implements(unmarshaler) {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			set[name] = true
			walk(f.Type)
		}
	}
	for _, v := range vs {
		walk(reflect.TypeOf(v))
	}
	return NewVocabNames(mapKeys(set)...)
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// With returns a Vocab with v's names and names.
func (v *Vocab) With(names ...string) *Vocab {
	out := &Vocab{names: append([][]byte(nil), v.names...)}
	for _, n := range names {
		out.names = append(out.names, []byte(n))
	}
	return out
}

// NewVocabNames is a Vocab of the given names.
func NewVocabNames(names ...string) *Vocab {
	v := &Vocab{}
	for _, n := range names {
		v.names = append(v.names, []byte(n))
	}
	return v
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// folded reports the known name that key equals only when case is folded.
func (v *Vocab) folded(key []byte) (string, bool) {
	if v == nil {
		return "", false
	}
	for _, n := range v.names {
		if bytes.Equal(key, n) {
			return "", false
		}
	}
	for _, n := range v.names {
		if bytes.EqualFold(key, n) {
			return string(n), true
		}
	}
	return "", false
}

// Check reports whether data is one JSON value with no duplicate member
// name in any object, no member name that matches a name of vocab (nil for
// none) only case-insensitively, and only UTF-8 text.
func Check(data []byte, vocab *Vocab) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not UTF-8", ErrAmbiguous)
	}
	p := parser{b: data, vocab: vocab}
	p.ws()
	if err := p.value(0); err != nil {
		return err
	}
	p.ws()
	if p.i != len(p.b) {
		return p.fail("data after the value")
	}
	return nil
}

type parser struct {
	b     []byte
	i     int
	vocab *Vocab
}

func (p *parser) fail(msg string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrAmbiguous, msg, p.i)
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) error {
	if p.i >= len(p.b) {
		return p.fail("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		_, _, err := p.str()
		return err
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return p.fail("unexpected character")
}

func (p *parser) lit(s string) error {
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		return p.fail("bad literal")
	}
	p.i += len(s)
	return nil
}

func (p *parser) number() error {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return p.fail("bad number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return p.fail("bad number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return p.fail("bad number")
		}
	}
	if p.i == start {
		return p.fail("bad number")
	}
	return nil
}

// str reads a string at p.i and returns its raw bytes (between the quotes)
// and whether it holds escapes.
func (p *parser) str() (raw []byte, escaped bool, err error) {
	p.i++ // the opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			raw = p.b[start:p.i]
			p.i++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			p.i++
			if p.i >= len(p.b) {
				return nil, false, p.fail("unterminated escape")
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if p.i+5 > len(p.b) {
					return nil, false, p.fail("short \\u escape")
				}
				if _, err := strconv.ParseUint(string(p.b[p.i+1:p.i+5]), 16, 16); err != nil {
					return nil, false, p.fail("bad \\u escape")
				}
				p.i += 5
			default:
				return nil, false, p.fail("bad escape")
			}
		case c < 0x20:
			return nil, false, p.fail("control character in a string")
		default:
			p.i++
		}
	}
	return nil, false, p.fail("unterminated string")
}

// unescape decodes the escapes of a member name, as encoding/json does
// (an invalid surrogate becomes U+FFFD).
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
			i += 4
			ru := rune(r)
			if utf16.IsSurrogate(ru) {
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2, err := strconv.ParseUint(string(raw[i+3:i+7]), 16, 16)
					if err == nil {
						if d := utf16.DecodeRune(ru, rune(r2)); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							i += 6
							continue
						}
					}
				}
				ru = utf8.RuneError
			}
			out = utf8.AppendRune(out, ru)
		default: // '"', '\\', '/'
			out = append(out, raw[i])
		}
	}
	return out
}

func (p *parser) object(depth int) error {
	if depth > MaxDepth {
		return p.fail("nested too deep")
	}
	p.i++ // '{'
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	var keys [][]byte
	var set map[string]bool
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return p.fail("expected a member name")
		}
		raw, escaped, err := p.str()
		if err != nil {
			return err
		}
		key := raw
		if escaped {
			key = unescape(raw)
		}
		if known, ok := p.vocab.folded(key); ok {
			return p.fail(fmt.Sprintf("member %q is not %q", key, known))
		}
		switch {
		case set != nil:
			if set[string(key)] {
				return p.fail(fmt.Sprintf("duplicate member %q", key))
			}
			set[string(key)] = true
		default:
			for _, k := range keys {
				if bytes.Equal(k, key) {
					return p.fail(fmt.Sprintf("duplicate member %q", key))
				}
			}
			keys = append(keys, key)
			if len(keys) > 16 {
				set = make(map[string]bool, 2*len(keys))
				for _, k := range keys {
					set[string(k)] = true
				}
			}
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return p.fail("expected ':'")
		}
		p.i++
		p.ws()
		if err := p.value(depth); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.fail("unterminated object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.fail("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) error {
	if depth > MaxDepth {
		return p.fail("nested too deep")
	}
	p.i++ // '['
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if err := p.value(depth); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.b) {
			return p.fail("unterminated array")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return nil
		default:
			return p.fail("expected ',' or ']'")
		}
	}
}
