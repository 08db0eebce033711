package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type inner struct {
	Name string `json:"name"`
}

type outer struct {
	ID    string  `json:"id"`
	Inner inner   `json:"inner"`
	List  []inner `json:"list"`
	Skip  string  `json:"-"`
	Plain string
}

var vocab = NewVocab(outer{})

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"object", `{"id":"a","inner":{"name":"b"},"list":[{"name":"c"}],"Plain":"d"}`, true},
		{"whitespace", " \n{ \"id\" : 1 , \"other\" : [ 1 , -2.5e+3 , true , false , null ] } \t", true},
		{"unknown names in any case", `{"Whatever":1,"WHATEVER":2}`, true},
		{"escaped key", `{"\u0069d":"x"}`, true},
		{"surrogate pair", `{"k":"\ud83d\ude00"}`, true},
		{"scalar", `"s"`, true},
		{"empty object and array", `{"a":{},"b":[]}`, true},
		{"many members", `{` + manyMembers(40, "") + `}`, true},

		{"duplicate", `{"id":"a","id":"b"}`, false},
		{"duplicate nested", `{"inner":{"name":"a","name":"b"}}`, false},
		{"duplicate unknown", `{"x":1,"x":2}`, false},
		{"duplicate via escape", `{"id":"a","\u0069d":"b"}`, false},
		{"duplicate among many", `{` + manyMembers(40, `,"mxb":0`) + `}`, false},
		{"case-folded", `{"ID":"a"}`, false},
		{"case-folded nested", `{"list":[{"NAME":"a"}]}`, false},
		{"case-folded untagged", `{"plain":"a"}`, false},
		{"kelvin sign folds to k", "{\"\u212aey\":1}", true}, // not a vocab word
		{"long s folds to s", "{\"li\u017ft\":[]}", false},
		{"case-folded escaped", `{"\u0049D":"a"}`, false},
		{"invalid UTF-8", "{\"id\":\"\xff\"}", false},
		{"invalid UTF-8 in key", "{\"i\xc3\":1}", false},
		{"control character", "{\"id\":\"a\x01\"}", false},
		{"trailing data", `{"id":"a"} {}`, false},
		{"trailing comma", `{"id":"a",}`, false},
		{"bad escape", `{"id":"\x"}`, false},
		{"short unicode escape", `{"id":"\u12"}`, false},
		{"leading zero", `{"n":01}`, false},
		{"bare minus", `{"n":-}`, false},
		{"unterminated", `{"id":"a"`, false},
		{"empty", ``, false},
		{"deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), vocab)
			if (err == nil) != tc.ok {
				t.Fatalf("Check(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("error %v does not wrap ErrAmbiguous", err)
			}
			if tc.ok && !json.Valid([]byte(tc.in)) {
				t.Fatalf("accepted invalid JSON")
			}
		})
	}
}

func manyMembers(n int, extra string) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m`)
		b.WriteString(strings.Repeat("x", i%3))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(`":0`)
	}
	// Names are m, mx, mxx + a letter: distinct for n <= 78.
	return b.String() + extra
}

func TestNewVocab(t *testing.T) {
	for _, n := range []string{"id", "inner", "list", "name", "Plain"} {
		if _, folded := vocab.folded([]byte(n)); folded {
			t.Errorf("%q is a name of the vocabulary, not a folded one", n)
		}
	}
	if _, folded := vocab.folded([]byte("Skip")); folded {
		t.Error(`a json:"-" field is in the vocabulary`)
	}
	if _, folded := vocab.With("extra").folded([]byte("EXTRA")); !folded {
		t.Error("With did not add a name")
	}
}

// FuzzCheck: Check never panics, accepts only valid JSON, and what it
// accepts has no duplicate member names at the top level.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"id":"a"}`, `{"a":[1,{"b":null}]}`, `{"id":"a","id":"b"}`, "{\"\xff\":1}", `"\ud800"`, `[1e5,-0.5]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b, vocab) != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) == nil {
			d := json.NewDecoder(strings.NewReader(string(b)))
			if _, err := d.Token(); err != nil {
				return
			}
			seen := map[string]bool{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return
				}
				if seen[k.(string)] {
					t.Fatalf("accepted duplicate %q in %q", k, b)
				}
				seen[k.(string)] = true
				var v json.RawMessage
				if d.Decode(&v) != nil {
					return
				}
			}
		}
	})
}
