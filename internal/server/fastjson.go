package server

import "encoding/json"

// compactString decodes a JSON string that is nearly always a compact JWS
// (base64url and dots). Such bytes need no unescaping, so they are taken as
// they are, which spares encoding/json a pass over the longest member of a
// verify request; any other string goes through encoding/json.
type compactString string

func (s *compactString) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && tokenChars(b[1:len(b)-1]) {
		*s = compactString(b[1 : len(b)-1])
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = compactString(v)
	return nil
}

func tokenChars(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
