package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/vc"
)

func TestAppendVerifyResponseMatchesEncodingJSON(t *testing.T) {
	exp := time.Date(2026, 12, 2, 8, 15, 0, 123456789, time.UTC)
	local := time.Date(2026, 12, 2, 8, 15, 0, 0, time.FixedZone("", 5*3600+30*60))
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	oddZone := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600+7))
	farZone := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 25*3600))
	valid := api.VerifyResponse{Valid: true, Agent: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		Issuer: "did:web:localhost%3A8080", Scopes: []string{"calendar:read", "mail:send"}, Owner: "team-a",
		CredentialID: "urn:uuid:526b4df8-da4f-4780-8c88-7306815ba557", ExpiresAt: &exp,
		DelegatedBy: "did:key:z6MkfwYymrP4xywMxSX1XXbFyCjZEo4ifd4n72QWmrqGypBt", OnBehalfOf: "user:42"}
	with := func(f func(*api.VerifyResponse)) api.VerifyResponse { r := valid; f(&r); return r }
	tests := []struct {
		name string
		r    api.VerifyResponse
		fast bool
	}{
		{"valid", valid, true},
		{"minimal valid", api.VerifyResponse{Valid: true}, true},
		{"refused", api.VerifyResponse{Error: &api.VerifyError{Code: "revoked", Detail: "credential is revoked"}}, true},
		{"refused without detail", api.VerifyResponse{Error: &api.VerifyError{Code: "replayed"}}, true},
		{"empty code", api.VerifyResponse{Error: &api.VerifyError{}}, true},
		{"empty scope", with(func(r *api.VerifyResponse) { r.Scopes = []string{""} }), true},
		{"zone offset", with(func(r *api.VerifyResponse) { r.ExpiresAt = &local }), true},
		{"html in owner", with(func(r *api.VerifyResponse) { r.Owner = "a<b>&c" }), false},
		{"quote in scope", with(func(r *api.VerifyResponse) { r.Scopes = []string{`a"b`} }), false},
		{"non-ASCII on behalf of", with(func(r *api.VerifyResponse) { r.OnBehalfOf = "zoë" }), false},
		{"control in detail", api.VerifyResponse{Error: &api.VerifyError{Code: "malformed", Detail: "a\nb"}}, false},
		{"delegation", with(func(r *api.VerifyResponse) {
			r.Delegation = []vc.DelegationLink{{Credential: "urn:uuid:1", Holder: "did:key:z6Mk"}}
		}), false},
		{"year 10000", with(func(r *api.VerifyResponse) { r.ExpiresAt = &far }), false},
		{"zone with seconds", with(func(r *api.VerifyResponse) { r.ExpiresAt = &oddZone }), true},
		{"zone hour 25", with(func(r *api.VerifyResponse) { r.ExpiresAt = &farZone }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := appendVerifyResponse(nil, &tt.r)
			if ok != tt.fast {
				t.Fatalf("fast path taken %v, want %v", ok, tt.fast)
			}
			want, err := json.Marshal(&tt.r)
			if ok && (err != nil || string(got) != string(want)) {
				t.Fatalf("got  %s\nwant %s (%v)", got, want, err)
			}
			// Through gin, either path gives the body and headers c.JSON gives.
			gin.SetMode(gin.ReleaseMode)
			w1, w2 := httptest.NewRecorder(), httptest.NewRecorder()
			c1, _ := gin.CreateTestContext(w1)
			c2, _ := gin.CreateTestContext(w2)
			c1.JSON(http.StatusOK, tt.r)
			writeVerifyResponse(c2, &tt.r)
			if w1.Code != w2.Code || w1.Body.String() != w2.Body.String() || w1.Header().Get("Content-Type") != w2.Header().Get("Content-Type") {
				t.Fatalf("c.JSON: %d %q %s\nwriteVerifyResponse: %d %q %s", w1.Code, w1.Header().Get("Content-Type"), w1.Body, w2.Code, w2.Header().Get("Content-Type"), w2.Body)
			}
		})
	}
}

func FuzzAppendVerifyResponse(f *testing.F) {
	f.Add(true, "did:key:z6Mk", "did:web:x", "calendar:read", "team", "urn:uuid:1", int64(1764662400), int32(0), "", "", "")
	f.Add(false, "", "", "", "", "", int64(0), int32(3600), "", "revoked", "a<b")
	f.Fuzz(func(t *testing.T, valid bool, agent, iss, scope, owner, id string, unix int64, off int32, obo, code, detail string) {
		exp := time.Unix(unix, 0).In(time.FixedZone("", int(off)))
		r := api.VerifyResponse{Valid: valid, Agent: agent, Issuer: iss, Owner: owner, CredentialID: id,
			ExpiresAt: &exp, OnBehalfOf: obo}
		if scope != "" {
			r.Scopes = []string{scope, scope}
		}
		if code != "" {
			r.Error = &api.VerifyError{Code: code, Detail: detail}
		}
		got, ok := appendVerifyResponse(nil, &r)
		if !ok {
			return
		}
		want, err := json.Marshal(&r)
		if err != nil || string(got) != string(want) {
			t.Fatalf("got  %s\nwant %s (%v)", got, want, err)
		}
	})
}

// BenchmarkVerifyResponse: the usual valid answer through c.JSON (the
// baseline, encoding/json) and through writeVerifyResponse, same run.
func BenchmarkVerifyResponse(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	exp := time.Date(2026, 12, 2, 8, 15, 0, 0, time.UTC)
	r := api.VerifyResponse{Valid: true, Agent: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
		Issuer: "did:web:localhost%3A8080", Scopes: []string{"calendar:read"}, Owner: "team-a",
		CredentialID: "urn:uuid:526b4df8-da4f-4780-8c88-7306815ba557", ExpiresAt: &exp,
		DelegatedBy: "did:key:z6MkfwYymrP4xywMxSX1XXbFyCjZEo4ifd4n72QWmrqGypBt"}
	for _, v := range []struct {
		name  string
		write func(*gin.Context)
	}{
		{"c.JSON", func(c *gin.Context) { c.JSON(http.StatusOK, r) }},
		{"writeVerifyResponse", func(c *gin.Context) { writeVerifyResponse(c, &r) }},
	} {
		b.Run(v.name, func(b *testing.B) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			b.ReportAllocs()
			for b.Loop() {
				w.Body.Reset()
				v.write(c)
			}
		})
	}
}
