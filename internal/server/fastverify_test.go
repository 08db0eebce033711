package server

import (
	"bytes"
	"github.com/agentid/agentid/api"
	"reflect"
	"testing"
)

// slowVerify is the encoding/json path the fast decoder must agree with.
func slowVerify(b []byte) (api.VerifyRequest, error) {
	var r api.VerifyRequest
	err := decodeReader(bytes.NewReader(b), &r)
	return r, err
}

var verifyBodies = []string{
	`{"presentation":"eyJ.abc-_.x","audience":"https://a.example","scopes":["calendar:read","calendar:write"]}`,
	` { "presentation" : "a.b.c" , "audience":"x", "nonce":"n", "method":"GET", "url":"https://a/b", "sourceIP":"10.0.0.1", "scopes":[ ] } `,
	`{}`,
	`{"presentation":"a\u002eb","audience":"x"}`,
	`{"presentation":"é","audience":"x"}`,
	`{"Presentation":"a","audience":"x"}`,
	`{"presentation":"a","presentation":"b"}`,
	`{"presentation":null}`,
	`{"scopes":["a",]}`,
	`{"scopes":"a"}`,
	`{"presentation":"a"} x`,
	`{"presentation":"a",}`,
	`{"unknown":1}`,
	`[]`,
	``,
	`{"presentation":"aaaaaaaaaaaaaaaaaaaa\u0041bbbbbbbbbbbbbbbb","audience":"x"}`,
	`{"presentation":"aaaaaaaaaaaaaaaaaaaaé","audience":"x"}`,
	"{\"presentation\":\"aaaaaaaaaaaaaaaa\x01\",\"audience\":\"x\"}",
}

func TestVerifyFastAgrees(t *testing.T) {
	fastCount := 0
	for _, in := range verifyBodies {
		var fast api.VerifyRequest
		if !decodeVerifyFast([]byte(in), &fast) {
			continue
		}
		fastCount++
		slow, err := slowVerify([]byte(in))
		if err != nil || !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: fast %+v, encoding/json %+v (%v)", in, fast, slow, err)
		}
	}
	if fastCount != 3 {
		t.Errorf("fast path took %d of the bodies, want the 3 simple ones", fastCount)
	}
}

func FuzzVerifyFastDifferential(f *testing.F) {
	for _, b := range verifyBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast api.VerifyRequest
		if !decodeVerifyFast(b, &fast) {
			return
		}
		slow, err := slowVerify(b)
		if err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v != encoding/json %+v for %q", fast, slow, b)
		}
	})
}
