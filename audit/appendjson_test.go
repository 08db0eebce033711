package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestAppendJSONIsMarshal: for an event with Hash and MAC empty (as the
// journal writes them), AppendJSON gives json.Marshal's bytes.
func TestAppendJSONIsMarshal(t *testing.T) {
	for _, ev := range []Event{
		{Time: time.Date(2026, 12, 2, 8, 0, 0, 1, time.UTC), RequestID: "r", Actor: "did:key:a", Action: ActionVerify,
			Subject: "did:key:a", Credential: "urn:uuid:c", Resource: "https://x.example/<&>", Scopes: []string{"a", ""},
			Decision: DecisionDeny, Reason: "revoked", Detail: "d\n\u2028\xff", SourceIP: "127.0.0.1", Reported: true,
			Delegation: []Link{{Credential: "urn:uuid:p", Holder: "did:key:p"}}},
		{Action: ActionVerify, Decision: DecisionAllow},
	} {
		want, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendJSON([]byte("x"), &ev)
		if err != nil || !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("AppendJSON = %s, %v\njson.Marshal = %s", got, err, want)
		}
	}
	if _, err := AppendJSON(nil, &Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Action: "a", Decision: "allow"}); err == nil {
		t.Fatal("a time json.Marshal refuses was encoded")
	}
}
