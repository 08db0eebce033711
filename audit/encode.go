package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendCanonical appends the canonical encoding of ev (see canonical) to
// dst. It writes, without reflection, exactly the bytes encoding/json
// writes for the Event struct with Hash set to "": the same field order,
// omitempty rules, HTML-safe string escaping and RFC 3339 time. A
// differential fuzz test holds it to encoding/json, which stays the
// definition.
func appendCanonical(dst []byte, ev *Event) ([]byte, error) {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"time":`...)
	if y := ev.Time.Year(); y < 0 || y > 9999 {
		// As time.Time.MarshalJSON refuses it.
		return nil, errorf("time year %d outside [0,9999]", y)
	}
	dst = append(dst, '"')
	dst = ev.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendField(dst, `,"requestId":`, ev.RequestID, true)
	dst = appendField(dst, `,"actor":`, ev.Actor, true)
	dst = appendField(dst, `,"action":`, ev.Action, false)
	dst = appendField(dst, `,"subject":`, ev.Subject, true)
	dst = appendField(dst, `,"credential":`, ev.Credential, true)
	dst = appendField(dst, `,"resource":`, ev.Resource, true)
	if len(ev.Scopes) > 0 {
		dst = append(dst, `,"scopes":[`...)
		for i, s := range ev.Scopes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		dst = append(dst, ']')
	}
	dst = appendField(dst, `,"decision":`, ev.Decision, false)
	dst = appendField(dst, `,"reason":`, ev.Reason, true)
	dst = appendField(dst, `,"detail":`, ev.Detail, true)
	dst = appendField(dst, `,"sourceIp":`, ev.SourceIP, true)
	if ev.Reported {
		dst = append(dst, `,"reported":true`...)
	}
	if len(ev.Delegation) > 0 {
		dst = append(dst, `,"delegation":[`...)
		for i, l := range ev.Delegation {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendField(append(dst, '{'), `"credential":`, l.Credential, false)
			dst = appendField(dst, `,"holder":`, l.Holder, false)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendField(dst, `,"prev":`, ev.Prev, false)
	return append(dst, hashSuffix...), nil
}

func appendField(dst []byte, name, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return dst
	}
	return appendString(append(dst, name...), v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping on: <, > and & as \u003c, \u003e and \u0026; U+2028 and
// U+2029 escaped; invalid UTF-8 as \ufffd.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		var esc []byte
		size := 1
		if b := s[i]; b < utf8.RuneSelf {
			switch {
			case b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&':
			case b == '\\', b == '"':
				esc = []byte{'\\', b}
			case b == '\b':
				esc = []byte(`\b`)
			case b == '\f':
				esc = []byte(`\f`)
			case b == '\n':
				esc = []byte(`\n`)
			case b == '\r':
				esc = []byte(`\r`)
			case b == '\t':
				esc = []byte(`\t`)
			default:
				esc = []byte{'\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF]}
			}
		} else {
			var c rune
			c, size = utf8.DecodeRuneInString(s[i:])
			switch {
			case c == utf8.RuneError && size == 1:
				esc = []byte(`\ufffd`)
			case c == '\u2028', c == '\u2029':
				esc = []byte{'\\', 'u', '2', '0', '2', hexDigits[c&0xF]}
			}
		}
		if esc != nil {
			dst = append(append(dst, s[start:i]...), esc...)
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
