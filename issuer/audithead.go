package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/did"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// HeadType is the JWS typ of a signed audit chain head.
const HeadType = "agentid-audit-head+jwt"

// headStore is what the audit log offers for keeping the latest signed
// head; *auditlog.Log implements it. A log without it just does not keep
// one.
type headStore interface {
	SaveSignedHead(ctx context.Context, h audit.Head, token string) error
}

// headClaims is the payload of a signed head.
type headClaims struct {
	Iss  string `json:"iss"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	Iat  int64  `json:"iat"`
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// SignAuditHead signs the audit log's current head with the issuer key (a
// compact JWS, typ HeadType, payload {"iss","seq","hash","iat"}), keeps it
// as the latest signed head when the log can, and returns it. A server
// calls it at intervals and on demand; operators keep copies elsewhere and
// check the log against them (`agentid audit verify --head`).
func (is *Issuer) SignAuditHead(ctx context.Context) (string, *audit.Head, error) {
	seq, hash, err := is.audit.Head(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("issuer: audit head: %w", err)
	}
	h := &audit.Head{Seq: seq, Hash: hash, Time: is.cfg.Now()}
	tok, err := is.SignHead(ctx, h)
	if err != nil {
		return "", nil, err
	}
	if hs, ok := is.audit.(headStore); ok {
		if err := hs.SaveSignedHead(ctx, *h, tok); err != nil {
			return "", nil, fmt.Errorf("issuer: %w", err)
		}
	}
	return tok, h, nil
}

// SignHead signs h (its Seq and Hash; its Issuer and Time are set here:
// the issuer DID and now, to the second) as SignAuditHead signs the
// current head. The log's retention signs each sealed segment's head
// with it.
func (is *Issuer) SignHead(ctx context.Context, h *audit.Head) (string, error) {
	h.Issuer = is.did
	h.Time = is.cfg.Now().UTC().Truncate(time.Second)
	payload, err := json.Marshal(headClaims{Iss: is.did, Seq: h.Seq, Hash: h.Hash, Iat: h.Time.Unix()})
	if err != nil {
		return "", fmt.Errorf("issuer: audit head: %w", err)
	}
	s, err := is.Signer(ctx)
	if err != nil {
		return "", err
	}
	tok, err := jws.Sign(s, HeadType, payload)
	if err != nil {
		return "", fmt.Errorf("issuer: sign audit head: %w", err)
	}
	return tok, nil
}

// AuditHead signs and returns the current head of the audit chain (admins
// only; the read is audited).
func (is *Issuer) AuditHead(ctx context.Context, actor *Principal) (string, *audit.Head, error) {
	var tok string
	var h *audit.Head
	err := is.adminRead(ctx, actor, "head", func() error {
		var err error
		tok, h, err = is.SignAuditHead(ctx)
		return err
	})
	return tok, h, err
}

// ErrBadHead: a signed audit head that does not verify: malformed, not
// typ HeadType, not signed by a key of the expected issuer.
var ErrBadHead = errors.New("issuer: signed audit head does not verify")

// ErrHeadOtherIssuer: a well-formed signed head names another issuer than
// the one it was checked for (the issuer URL, and so its DID, changed).
var ErrHeadOtherIssuer = errors.New("issuer: signed audit head is another issuer's")

// VerifyAuditHead checks a signed head: its typ, that its kid is a key of
// issuerDID (when not empty; otherwise of the head's own iss), resolved
// through keys as an assertion method, and its signature. It returns the
// head it vouches for.
func VerifyAuditHead(ctx context.Context, token, issuerDID string, keys vc.KeyResolver) (*audit.Head, error) {
	t, err := jws.Parse(strings.TrimSpace(token))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadHead, err)
	}
	if t.Header.Typ != HeadType {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrBadHead, t.Header.Typ, HeadType)
	}
	var c headClaims
	if err := json.Unmarshal(t.Payload, &c); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrBadHead, err)
	}
	if issuerDID == "" {
		issuerDID = c.Iss
	}
	if c.Iss != issuerDID {
		return nil, fmt.Errorf("%w: %s, not %s", ErrHeadOtherIssuer, c.Iss, issuerDID)
	}
	if !strings.HasPrefix(t.Header.Kid, issuerDID+"#") {
		return nil, fmt.Errorf("%w: not signed by %s", ErrBadHead, issuerDID)
	}
	if !hexHash.MatchString(c.Hash) {
		return nil, fmt.Errorf("%w: hash is not 64 hex digits", ErrBadHead)
	}
	pub, err := keys.ResolveKey(ctx, t.Header.Kid, did.AssertionMethod)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", ErrBadHead, t.Header.Kid, err)
	}
	if err := t.Verify(pub); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadHead, err)
	}
	return &audit.Head{Issuer: c.Iss, Seq: c.Seq, Hash: c.Hash, Time: time.Unix(c.Iat, 0).UTC()}, nil
}
