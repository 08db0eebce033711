package audit

// AppendJSON appends ev as encoding/json encodes it when its Hash and MAC
// are empty — the canonical encoding, without reflection — whatever its
// Hash and MAC hold. Like json.Marshal it fails on a time outside the
// years 0–9999. The audit journal writes events so.
func AppendJSON(dst []byte, ev *Event) ([]byte, error) {
	return appendCanonical(dst, ev)
}
