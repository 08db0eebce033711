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
	dst = appendField(dst, `,"prev":`, ev.Prev, false)
	return append(dst, `,"hash":""}`...), nil
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
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
