package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agentid/agentid/api"
	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/verifier"
)

func TestNewVerifyResponse(t *testing.T) {
	exp := time.Date(2026, 11, 22, 12, 15, 0, 0, time.UTC)
	res := &verifier.Result{Agent: "did:key:zA", Issuer: "did:web:issuer.example.com", Scopes: []string{"calendar:read"},
		Owner: "team", Purpose: "not on the wire", CredentialID: "urn:uuid:1", ExpiresAt: exp}
	internal := errors.New("audit: disk full")
	tests := []struct {
		name    string
		res     *verifier.Result
		err     error
		want    string // JSON of the response
		wantErr error
	}{
		{name: "valid", res: res,
			want: `{"valid":true,"agent":"did:key:zA","issuer":"did:web:issuer.example.com","scopes":["calendar:read"],"owner":"team","credentialId":"urn:uuid:1","expiresAt":"2026-11-22T12:15:00Z"}`},
		{name: "reason error", err: reason.New(reason.Revoked, "credential is revoked"),
			want: `{"valid":false,"error":{"code":"revoked","detail":"credential is revoked"}}`},
		{name: "wrapped reason error", err: fmt.Errorf("context: %w", reason.Wrap(reason.Expired, "past validUntil", internal)),
			want: `{"valid":false,"error":{"code":"expired","detail":"past validUntil"}}`},
		{name: "bare code", err: fmt.Errorf("statuslist: %w", reason.StatusUnavailable),
			want: `{"valid":false,"error":{"code":"status_unavailable"}}`},
		{name: "no code", err: internal, wantErr: internal},
		{name: "neither", wantErr: errors.New("any")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.NewVerifyResponse(tt.res, tt.err)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				if tt.err != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: `"15m"`, want: 15 * time.Minute},
		{in: `"1h30m"`, want: 90 * time.Minute},
		{in: `900`, want: 15 * time.Minute},
		{in: `0`, want: 0},
		{in: `"forever"`, wantErr: true},
		{in: `true`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d api.Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("read %v, want an error", time.Duration(d))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if time.Duration(d) != tt.want {
				t.Errorf("got %v, want %v", time.Duration(d), tt.want)
			}
		})
	}
	b, err := json.Marshal(api.Duration(15 * time.Minute))
	if err != nil || string(b) != `"15m0s"` {
		t.Errorf("Marshal = %s, %v; want \"15m0s\"", b, err)
	}
}
