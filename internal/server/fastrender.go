package server

import (
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/api"
)

// writeVerifyResponse writes out as c.JSON would, byte for byte, without
// encoding/json's reflection for the usual answer (appendVerifyResponse);
// any answer the appender does not take goes through c.JSON.
func writeVerifyResponse(c *gin.Context, out *api.VerifyResponse) {
	p := renderPool.Get().(*[]byte)
	b, ok := appendVerifyResponse((*p)[:0], out)
	if !ok {
		renderPool.Put(p)
		c.JSON(http.StatusOK, out)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
	if cap(b) <= 16<<10 {
		*p = b[:0]
		renderPool.Put(p)
	}
}

var renderPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendVerifyResponse appends the JSON encoding/json gives r, reporting
// false (and appending nothing of use) for what it leaves to
// encoding/json: a delegation chain, a string with a byte encoding/json
// would escape (anything outside printable ASCII, '"', '\\', '<', '>',
// '&'), a time MarshalJSON refuses.
func appendVerifyResponse(b []byte, r *api.VerifyResponse) ([]byte, bool) {
	if len(r.Delegation) > 0 {
		return b, false
	}
	ok := true
	member := func(name, v string) {
		if v == "" {
			return
		}
		b = append(append(append(b, `,"`...), name...), `":`...)
		b, ok = appendPlainString(b, v, ok)
	}
	if r.Valid {
		b = append(b, `{"valid":true`...)
	} else {
		b = append(b, `{"valid":false`...)
	}
	member("agent", r.Agent)
	member("issuer", r.Issuer)
	if len(r.Scopes) > 0 {
		b = append(b, `,"scopes":[`...)
		for i, s := range r.Scopes {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendPlainString(b, s, ok)
		}
		b = append(b, ']')
	}
	member("owner", r.Owner)
	member("credentialId", r.CredentialID)
	if r.ExpiresAt != nil {
		b = append(b, `,"expiresAt":"`...)
		n := len(b)
		b = r.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
		if !strictRFC3339(b[n:]) {
			return b, false
		}
		b = append(b, '"')
	}
	member("delegatedBy", r.DelegatedBy)
	member("onBehalfOf", r.OnBehalfOf)
	if r.Error != nil {
		b = append(b, `,"error":{"code":`...)
		b, ok = appendPlainString(b, r.Error.Code, ok)
		member("detail", r.Error.Detail)
		b = append(b, '}')
	}
	return append(b, '}'), ok
}

// appendPlainString appends s quoted, and ok unless encoding/json would
// escape one of its bytes.
func appendPlainString(b []byte, s string, ok bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return b, false
		}
	}
	return append(append(append(b, '"'), s...), '"'), ok
}

// strictRFC3339 reports whether t, a time formatted with RFC3339Nano, is
// one time.Time.MarshalJSON accepts: a four-digit year and a zone hour
// below 24 without seconds (its appendStrictRFC3339).
func strictRFC3339(t []byte) bool {
	if len(t) < len("2006-01-02T15:04:05Z") || t[4] != '-' {
		return false
	}
	if t[len(t)-1] == 'Z' {
		return true
	}
	c := t[len(t)-len("Z07:00")]
	h := t[len(t)-len("07:00"):]
	return !('0' <= c && c <= '9') && 10*(h[0]-'0')+(h[1]-'0') < 24
}
