package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// canonicalJSON is canonical by way of encoding/json: the definition that
// appendCanonical is tested against.
func canonicalJSON(ev *Event) ([]byte, error) {
	c := *ev
	c.Hash, c.MAC = "", ""
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b, hashSuffix) {
		// Only a change to the Event struct can cause this.
		return nil, errorf("canonical encoding does not end with the hash field")
	}
	return b, nil
}

func TestAppendCanonicalMatchesEncodingJSON(t *testing.T) {
	full := Event{Seq: 18446744073709551615, Time: time.Date(2026, 12, 1, 7, 8, 9, 120000000, time.UTC),
		RequestID: "r", Actor: "did:key:a", Action: ActionVerify, Subject: "did:key:s", Credential: "urn:uuid:c",
		Resource: "https://x.example/p?a=1&b=<2>", Scopes: []string{"a:b", "", "c"}, Decision: DecisionDeny,
		Reason: "revoked", Detail: "line\nnext \"q\" \u2028 \u2029 \x7f \b\f\n\r\t\x00\x1f é 日本 \xff\xfe \xed\xa0\x80",
		SourceIP: "::1", Reported: true, Prev: GenesisPrev, Hash: "ignored"}
	for _, tc := range []struct {
		name string
		ev   Event
	}{
		{"every field", full},
		{"required only", Event{Action: "a", Decision: "b"}},
		{"reported", Event{Action: "a", Decision: DecisionAllow, Reported: true}},
		{"delegation chain", Event{Action: "a", Decision: DecisionAllow, Delegation: []Link{
			{Credential: "urn:uuid:1", Holder: "did:key:z<&>"}, {Credential: "", Holder: "did:key:\xff"}}}},
		{"empty delegation slice", Event{Action: "a", Decision: DecisionAllow, Delegation: []Link{}}},
		{"empty scopes slice", Event{Action: "a", Decision: DecisionAllow, Scopes: []string{}}},
		{"zone offset and nanoseconds", Event{Seq: 7, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -(9*3600+30*60))), Action: "a", Decision: "allow"}},
		{"year 0", Event{Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), Action: "a", Decision: "allow"}},
		{"year 10000", Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Action: "a", Decision: "allow"}},
		{"year -1", Event{Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), Action: "a", Decision: "allow"}},
	} {
		t.Run(tc.name, func(t *testing.T) { sameAsJSON(t, &tc.ev) })
	}
}

// sameAsJSON fails t unless appendCanonical and encoding/json agree on ev:
// the same bytes, or both an error.
func sameAsJSON(t *testing.T, ev *Event) {
	t.Helper()
	want, werr := canonicalJSON(ev)
	got, gerr := appendCanonical(nil, ev)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("encoding/json error %v, appendCanonical error %v", werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendCanonical differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

// FuzzCanonicalDifferential holds the reflection-free encoder to
// encoding/json for arbitrary strings, times and sequence numbers.
func FuzzCanonicalDifferential(f *testing.F) {
	f.Add(uint64(1), int64(0), int64(0), int16(0), "did:key:z6Mk", "verify", "https://a.example", "calendar:read", "allow", "detail", true)
	f.Add(uint64(0), int64(-62135596800), int64(999999999), int16(-570), "\xff\xfe", "a\u2028b", "<&>", "\x00\x7f", "", "\ufffd\xed\xa0\x80\b\f", false)
	f.Fuzz(func(t *testing.T, seq uint64, unix, nsec int64, offMin int16, actor, action, resource, scope, decision, detail string, scopes bool) {
		zone := time.FixedZone("", int(offMin)%(24*60)*60)
		ev := &Event{Seq: seq, Time: time.Unix(unix, nsec).In(zone), RequestID: detail, Actor: actor, Action: action,
			Subject: scope, Credential: actor + detail, Resource: resource, Decision: decision, Reason: scope,
			Detail: detail, SourceIP: resource, Reported: seq&1 == 1, Prev: action, Hash: detail}
		if scopes {
			ev.Scopes = []string{scope, detail, ""}
		}
		sameAsJSON(t, ev)
	})
}

// TestCanonicalEncoding pins the canonical encoding: a change to the Event
// struct that alters it breaks every stored chain.
func TestCanonicalEncoding(t *testing.T) {
	ev := &Event{Seq: 1, Time: t0, Action: ActionVerify, Decision: DecisionAllow, Prev: GenesisPrev}
	rec, err := Seal(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"seq":1,"time":"2026-11-22T18:00:00Z","action":"verify","decision":"allow","prev":"` + GenesisPrev + `","hash":"`
	if !strings.HasPrefix(string(rec), want) {
		t.Fatalf("record %s\nwant prefix %s", rec, want)
	}
	rep := &Event{Seq: 1, Time: t0, Action: ActionVerify, Decision: DecisionAllow, Reported: true, Prev: GenesisPrev}
	rrec, err := Seal(rep)
	if err != nil {
		t.Fatal(err)
	}
	const wantRep = `{"seq":1,"time":"2026-11-22T18:00:00Z","action":"verify","decision":"allow","reported":true,"prev":"` + GenesisPrev + `","hash":"`
	if !strings.HasPrefix(string(rrec), wantRep) {
		t.Fatalf("reported record %s\nwant prefix %s", rrec, wantRep)
	}
	canon := strings.Replace(string(rec), ev.Hash, "", 1)
	sum := sha256.Sum256([]byte(canon))
	if hex.EncodeToString(sum[:]) != ev.Hash {
		t.Fatalf("hash is not SHA-256 of %s", canon)
	}
}
