package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Announcements (store.Announcer) travel as PostgreSQL notifications on
// channel "agentid_" + topic, sent by pg_notify in the transaction, so
// that PostgreSQL delivers them exactly when the transaction commits. The
// payload is the sending store's id, a space, and the caller's payload;
// a store does not hand its own announcements to its subscribers (its
// process learnt of the change through OnCommit).

type note struct{ topic, payload string }

// Announce implements store.Announcer. A payload is at most 7,000 bytes.
func (t *txn) Announce(topic, payload string) {
	if !t.writable {
		return
	}
	t.notes[len(t.notes)-1] = append(t.notes[len(t.notes)-1], note{topic, payload})
}

func channel(topic string) string { return "agentid_" + topic }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// A Subscriber receives the announcements other processes make on its
// topic. missed is true (and payload empty) when the listening connection
// was (re)established: announcements made while it was down are lost, so
// a subscriber drops whatever it caches from the store.
type Subscriber func(payload string, missed bool)

// Subscribe registers fn for topic's announcements made by other stores
// on the database. fn runs on the store's listening goroutine, one call at
// a time; it must not block for long. Subscribe before the first
// announcement that matters: the listener starts with the first
// subscription and reconnects by itself.
func (s *Store) Subscribe(topic string, fn Subscriber) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.subs == nil {
		s.subs = map[string][]Subscriber{}
	}
	s.subs[channel(topic)] = append(s.subs[channel(topic)], fn)
	if s.listenStop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.listenStop, s.listenDone = cancel, make(chan struct{})
		go s.listen(ctx)
	} else if s.listenKick != nil {
		// Listen on the new channel: reconnect.
		s.listenKick()
	}
}

func (s *Store) subscribers() map[string][]Subscriber {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	out := make(map[string][]Subscriber, len(s.subs))
	for k, v := range s.subs {
		out[k] = append([]Subscriber(nil), v...)
	}
	return out
}

// listen keeps one connection listening on every subscribed channel.
func (s *Store) listen(ctx context.Context) {
	defer close(s.listenDone)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		cctx, cancel := context.WithCancel(ctx)
		s.subMu.Lock()
		s.listenKick = cancel
		s.subMu.Unlock()
		ok := s.listenOnce(cctx)
		cancel()
		if ok {
			backoff = 50 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// listenOnce connects, listens and delivers until the connection fails
// or ctx ends; it reports whether it got as far as listening.
func (s *Store) listenOnce(ctx context.Context) bool {
	cfg := s.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	subs := s.subscribers()
	for ch := range subs {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return false
		}
	}
	for _, fns := range subs {
		for _, fn := range fns {
			fn("", true)
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		from, payload, _ := strings.Cut(n.Payload, " ")
		if from == s.id {
			continue
		}
		for _, fn := range subs[n.Channel] {
			fn(payload, false)
		}
	}
}

// Generation returns how many committed transactions have announced on
// topic (0 for none), as of now: every commit that announces on it
// increments it in the same transaction. A process that caches what the
// topic covers keeps its cache while the generation it filled it at is
// still current, which is exact, unlike waiting for notifications.
func (s *Store) Generation(ctx context.Context, topic string) (int64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.leave()
	var g int64
	err := s.pool.QueryRow(ctx, "SELECT gen FROM agentid_generation WHERE topic = $1", topic).Scan(&g)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, mapErr(fmt.Errorf("pgstore: generation: %w", err))
	}
	return g, nil
}
