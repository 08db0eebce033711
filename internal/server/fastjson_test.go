package server

import (
	"encoding/json"
	"testing"
)

func TestCompactString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`"eyJ.abc-_.x"`, "eyJ.abc-_.x"},
		{`"a\u002eb"`, "a.b"},
		{`"with space"`, "with space"},
		{`""`, ""},
	} {
		var s compactString
		if err := json.Unmarshal([]byte(c.in), &s); err != nil || string(s) != c.want {
			t.Errorf("%s: %q %v", c.in, s, err)
		}
	}
	var s compactString
	if err := json.Unmarshal([]byte(`5`), &s); err == nil {
		t.Error("number accepted as a string")
	}
	var body struct {
		VerifyRequest
		Presentation compactString `json:"presentation"`
	}
	if err := json.Unmarshal([]byte(`{"presentation":"a.b.c","audience":"x"}`), &body); err != nil || body.Presentation != "a.b.c" || body.Audience != "x" {
		t.Fatalf("embedded: %+v %v", body, err)
	}
}
