package auditlog

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentid/agentid/audit"
	"github.com/agentid/agentid/store"
)

// headsBucket keeps the latest signed chain head, under latestHeadKey: a
// JSON signedHead. It is written by whoever signs heads (the issuer) and
// read at start to verify only the tail of the log after it.
const headsBucket = "audit.heads"

var latestHeadKey = []byte("latest")

type signedHead struct {
	Head  audit.Head `json:"head"`
	Token string     `json:"token"` // compact JWS over Head, by the issuer
}

// SaveSignedHead stores token, a signed form of h, as the latest signed
// head. The log does not check the signature: LatestSignedHead's caller
// must, before trusting it.
func (l *Log) SaveSignedHead(ctx context.Context, h audit.Head, token string) error {
	b, err := json.Marshal(signedHead{Head: h, Token: token})
	if err != nil {
		return errorf("save signed head: %w", err)
	}
	if err := l.db.Update(ctx, func(tx store.Tx) error {
		return tx.Bucket(headsBucket).Put(latestHeadKey, b)
	}); err != nil {
		return errorf("save signed head: %w", err)
	}
	return nil
}

// LatestSignedHead returns the token of the latest signed head saved, or
// "" when none was. Anyone who can write the database can delete it or put
// back an older one (both only make the start-up check longer); they
// cannot forge one without the issuer's key.
func (l *Log) LatestSignedHead(ctx context.Context) (string, error) {
	var tok string
	err := l.db.View(ctx, func(tx store.Tx) error {
		v := tx.Bucket(headsBucket).Get(latestHeadKey)
		if v == nil {
			return nil
		}
		var sh signedHead
		if err := json.Unmarshal(v, &sh); err != nil {
			return fmt.Errorf("stored signed head: %w", err)
		}
		tok = sh.Token
		return nil
	})
	if err != nil {
		return "", errorf("latest signed head: %w", err)
	}
	return tok, nil
}
