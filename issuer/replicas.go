package issuer

import (
	"context"

	"github.com/agentid/agentid/store"
)

// KeysChanged re-reads the issuer's public keys, for a process told that
// another one sharing its store rotated or retired a key: a retired key
// is refused from then on, a new one accepted without waiting for a miss.
func (is *Issuer) KeysChanged(ctx context.Context) error {
	_, err := is.resolver.refresh(ctx)
	return err
}

// Announce passes an announcement to the transaction sealedTx wraps, when
// that store shares its changes with other processes (store.Announcer).
func (t sealedTx) Announce(topic, payload string) {
	if a, ok := t.Tx.(store.Announcer); ok {
		a.Announce(topic, payload)
	}
}
