package keystore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/agentid/agentid/store"
)

// Errors returned by the keystore. Callers test for them with errors.Is;
// returned errors add context around them.
var (
	// ErrNotFound: no keyset with that name, or no key with that kid in it.
	ErrNotFound = errors.New("not found")
	// ErrExists: Create was called for a name that already has a keyset.
	ErrExists = errors.New("already exists")
	// ErrPrimary: Retire was asked to remove the primary key; rotate first.
	ErrPrimary = errors.New("key is primary")
	// ErrDecrypt: a stored keyset did not decrypt: the master key is wrong,
	// or the stored data was altered or corrupted.
	ErrDecrypt = errors.New("cannot decrypt keyset: wrong master key or corrupted data")
	// ErrUnsupportedAlgorithm: an algorithm other than EdDSA or ES256.
	ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")
	// ErrInvalidName: a keyset name that is empty, too long or uses
	// characters outside [A-Za-z0-9._-].
	ErrInvalidName = errors.New("invalid keyset name")
	// ErrInvalidMasterKey: a master key that is not standard base64 of 32
	// bytes.
	ErrInvalidMasterKey = errors.New("invalid master key")
	// ErrInsecureKeyFile: a master key file that group or others can access.
	ErrInsecureKeyFile = errors.New("master key file permissions too open")
)

// Bucket names. Everything the keystore writes lives in buckets whose names
// start with "keystore".
var (
	bucketKeysets = "keystore.keysets" // name -> Tink EncryptedKeyset (binary)
	bucketMeta    = "keystore.meta"    // name -> metadata record (JSON)
)

// maxNameLen bounds keyset names.
const maxNameLen = 64

// Key statuses in the metadata record.
const (
	statusPrimary = "primary"
	statusActive  = "active"
	statusRetired = "retired"
)

// record is the unencrypted metadata stored next to a keyset. It holds only
// public information. Public keys, primary status and algorithm are always
// taken from the decrypted (authenticated) keyset; the record contributes
// creation times and the history of retired keys.
type record struct {
	Version int       `json:"v"`
	Alg     Algorithm `json:"alg"`
	// Gen increases on every write of the keyset; cached signers are
	// refreshed when it changes.
	Gen  uint64      `json:"gen"`
	Keys []keyRecord `json:"keys"`
}

type keyRecord struct {
	KID     string     `json:"kid"`
	TinkID  uint32     `json:"tink_id"`
	Status  string     `json:"status"`
	Created time.Time  `json:"created"`
	Retired *time.Time `json:"retired,omitempty"`
}

// Options configures a Store. The zero value and nil select the defaults.
type Options struct {
	// Now is the clock used for key creation and retirement times. Nil
	// means time.Now.
	Now func() time.Time
}

// Store keeps named signing keysets in a store.Store. It is safe for
// concurrent use. Use one Store per database.
type Store struct {
	db     store.Store
	master tink.AEAD
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]*loaded
}

// loaded is a decrypted keyset as held in memory: a signing primitive for
// the primary key and the public keys.
type loaded struct {
	gen    uint64
	signer *Signer
	keys   []PublicKey // primary first, then newest first
}

// Open returns a Store that keeps keysets in db, encrypted with master. db
// stays owned by the caller; the Store has no Close.
func Open(db store.Store, master tink.AEAD, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("keystore: nil database")
	}
	if master == nil {
		return nil, errors.New("keystore: nil master key")
	}
	s := &Store{db: db, master: master, now: time.Now, cache: make(map[string]*loaded)}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	return s, nil
}

// Create makes a new keyset called name holding one fresh primary key for
// alg (Ed25519 if alg is empty). It fails with [ErrExists] if name is taken.
func (s *Store) Create(ctx context.Context, name string, alg Algorithm) error {
	if err := checkArgs(ctx, name); err != nil {
		return err
	}
	if alg == "" {
		alg = Ed25519
	}
	if _, err := tinkParameters(alg); err != nil {
		return err
	}
	err := s.db.Update(ctx, func(tx store.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte(name)) != nil {
			return fmt.Errorf("keystore: keyset %q: %w", name, ErrExists)
		}
		h, err := newKeysetHandle(alg)
		if err != nil {
			return err
		}
		_, keys, err := describeKeyset(h)
		if err != nil {
			return err
		}
		rec := &record{Version: 1, Alg: alg, Gen: 1, Keys: []keyRecord{{
			KID: keys[0].kid, TinkID: keys[0].id, Status: statusPrimary, Created: s.now().UTC(),
		}}}
		return s.put(tx, name, h, rec)
	})
	s.invalidate(name)
	return err
}

// HasKeysets reports whether db holds any keyset. It needs no master key:
// a caller deciding whether data exists (and so whether a master key must
// already be there) asks it before it has one.
func HasKeysets(ctx context.Context, db store.Store) (bool, error) {
	var ok bool
	err := db.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucketMeta).Range(nil, func(_, _ []byte) error {
			ok = true
			return store.Stop
		})
	})
	if err != nil {
		return false, fmt.Errorf("keystore: %w", err)
	}
	return ok, nil
}

// Exists reports whether a keyset called name exists.
func (s *Store) Exists(ctx context.Context, name string) (bool, error) {
	if err := checkArgs(ctx, name); err != nil {
		return false, err
	}
	var ok bool
	err := s.db.View(ctx, func(tx store.Tx) error {
		ok = tx.Bucket(bucketMeta).Get([]byte(name)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("keystore: keyset %q: %w", name, err)
	}
	return ok, nil
}

// Signer returns a Signer for the current primary key of keyset name. The
// decrypted keyset is cached, so repeated calls do not decrypt. The Signer
// keeps its key after a later Rotate; ask again to follow the primary.
func (s *Store) Signer(ctx context.Context, name string) (*Signer, error) {
	l, err := s.load(ctx, name)
	if err != nil {
		return nil, err
	}
	return l.signer, nil
}

// SignerTx is Signer inside the caller's transaction: the keyset's
// generation is read in tx, so that a write transaction signs with the
// primary key of its own snapshot without opening a second transaction
// (on a shared database, one round trip fewer per issuance). A keyset
// decrypted afresh in a read-write transaction is cached only once tx
// commits (tx may have rotated it and roll back).
func (s *Store) SignerTx(tx store.Tx, name string) (*Signer, error) {
	if err := checkArgs(context.Background(), name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	cached := s.cache[name]
	s.mu.Unlock()
	l, err := s.loadTx(tx, name, cached)
	if err != nil {
		return nil, err
	}
	if tx.Writable() {
		tx.OnCommit(func() { s.keep(name, cached, l) })
	} else {
		s.keep(name, cached, l)
	}
	return l.signer, nil
}

// PublicKeys returns every key of keyset name that still verifies (all keys
// not retired): the primary key first, then the others newest first.
func (s *Store) PublicKeys(ctx context.Context, name string) ([]PublicKey, error) {
	l, err := s.load(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]PublicKey, len(l.keys))
	for i, k := range l.keys {
		k.Public = clonePublic(k.Public)
		out[i] = k
	}
	return out, nil
}

// Rotate adds a new key with the keyset's algorithm to keyset name and makes
// it primary, in its own transaction. Older keys stay and keep verifying
// until retired. It returns the new key.
func (s *Store) Rotate(ctx context.Context, name string) (PublicKey, error) {
	if err := checkArgs(ctx, name); err != nil {
		return PublicKey{}, err
	}
	var out PublicKey
	err := s.db.Update(ctx, func(tx store.Tx) error {
		var err error
		out, err = s.RotateTx(tx, name)
		return err
	})
	if err != nil {
		return PublicKey{}, err
	}
	return out, nil
}

// RotateTx is Rotate inside the caller's read-write transaction, so that
// the new key and whatever the caller records about it (an audit event)
// commit together. The cached keyset is dropped when tx commits.
func (s *Store) RotateTx(tx store.Tx, name string) (PublicKey, error) {
	if err := checkArgs(context.Background(), name); err != nil {
		return PublicKey{}, err
	}
	if !tx.Writable() {
		return PublicKey{}, fmt.Errorf("keystore: rotate: %w", store.ErrReadOnly)
	}
	tx.OnCommit(func() { s.invalidate(name) })
	h, alg, _, rec, err := s.get(tx, name)
	if err != nil {
		return PublicKey{}, err
	}
	nh, id, err := rotateKeysetHandle(h, alg)
	if err != nil {
		return PublicKey{}, err
	}
	_, nkeys, err := describeKeyset(nh)
	if err != nil {
		return PublicKey{}, err
	}
	i := slices.IndexFunc(nkeys, func(k tinkKey) bool { return k.id == id })
	if i < 0 || !nkeys[i].primary {
		return PublicKey{}, fmt.Errorf("keystore: keyset %q: rotated key is not primary", name)
	}
	if slices.ContainsFunc(rec.Keys, func(r keyRecord) bool { return r.KID == nkeys[i].kid }) {
		// A fresh key colliding with an old thumbprint means a broken
		// random source; refuse rather than confuse verifiers.
		return PublicKey{}, fmt.Errorf("keystore: keyset %q: new key repeats an old kid", name)
	}
	for j := range rec.Keys {
		if rec.Keys[j].Status == statusPrimary {
			rec.Keys[j].Status = statusActive
		}
	}
	created := s.now().UTC()
	rec.Keys = append(rec.Keys, keyRecord{KID: nkeys[i].kid, TinkID: id, Status: statusPrimary, Created: created})
	rec.Gen++
	if err := s.put(tx, name, nh, rec); err != nil {
		return PublicKey{}, err
	}
	return PublicKey{KID: nkeys[i].kid, Alg: string(alg), Public: clonePublic(nkeys[i].pub), Primary: true, Created: created}, nil
}

// Retire removes the key kid from keyset name, so that it no longer
// verifies. The primary key cannot be retired ([ErrPrimary]); an unknown or
// already retired kid gives [ErrNotFound]. Its metadata (kid, creation and
// retirement time) is kept.
func (s *Store) Retire(ctx context.Context, name, kid string) error {
	if err := checkArgs(ctx, name); err != nil {
		return err
	}
	err := s.db.Update(ctx, func(tx store.Tx) error {
		h, _, keys, rec, err := s.get(tx, name)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(keys, func(k tinkKey) bool { return k.kid == kid })
		if i < 0 {
			return fmt.Errorf("keystore: keyset %q: key %q: %w", name, kid, ErrNotFound)
		}
		if keys[i].primary {
			return fmt.Errorf("keystore: keyset %q: key %q: %w", name, kid, ErrPrimary)
		}
		nh, err := deleteFromKeysetHandle(h, keys[i].id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		for j := range rec.Keys {
			if rec.Keys[j].KID == kid {
				rec.Keys[j].Status = statusRetired
				rec.Keys[j].Retired = &now
			}
		}
		rec.Gen++
		return s.put(tx, name, nh, rec)
	})
	s.invalidate(name)
	return err
}

// load returns the cached keyset name, decrypting it if the cache is empty
// or older than the stored generation.
func (s *Store) load(ctx context.Context, name string) (*loaded, error) {
	if err := checkArgs(ctx, name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	cached := s.cache[name]
	s.mu.Unlock()

	var (
		l   *loaded
		err error
	)
	err = s.db.View(ctx, func(tx store.Tx) error {
		l, err = s.loadTx(tx, name, cached)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.keep(name, cached, l)
	return l, nil
}

// loadTx reads keyset name's generation in tx and returns cached when it
// is current, else the keyset decrypted afresh.
func (s *Store) loadTx(tx store.Tx, name string, cached *loaded) (*loaded, error) {
	rec, err := getRecord(tx, name)
	if err != nil {
		return nil, err
	}
	if cached != nil && cached.gen == rec.Gen {
		return cached, nil
	}
	h, alg, keys, rec, err := s.get(tx, name)
	if err != nil {
		return nil, err
	}
	return newLoaded(name, h, alg, keys, rec)
}

// keep caches l, loaded in place of cached, unless a newer one is there.
func (s *Store) keep(name string, cached, l *loaded) {
	if l == cached {
		return
	}
	s.mu.Lock()
	if c := s.cache[name]; c == nil || c.gen < l.gen {
		s.cache[name] = l
	}
	s.mu.Unlock()
}

func newLoaded(name string, h *keyset.Handle, alg Algorithm, keys []tinkKey, rec *record) (*loaded, error) {
	l := &loaded{gen: rec.Gen}
	for _, k := range keys {
		j := slices.IndexFunc(rec.Keys, func(r keyRecord) bool { return r.KID == k.kid })
		if j < 0 {
			return nil, fmt.Errorf("keystore: keyset %q: metadata does not match keyset", name)
		}
		l.keys = append(l.keys, PublicKey{KID: k.kid, Alg: string(alg), Public: k.pub, Primary: k.primary, Created: rec.Keys[j].Created})
		if k.primary {
			sg, err := newSignerFromHandle(h, alg, k)
			if err != nil {
				return nil, fmt.Errorf("keystore: keyset %q: %w", name, err)
			}
			l.signer = sg
		}
	}
	slices.SortStableFunc(l.keys, func(a, b PublicKey) int {
		if a.Primary != b.Primary {
			if a.Primary {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Created.UnixNano(), a.Created.UnixNano())
	})
	return l, nil
}

func (s *Store) invalidate(name string) {
	s.mu.Lock()
	delete(s.cache, name)
	s.mu.Unlock()
}

// TopicKeys is the store.Announcer topic of keyset changes; the payload
// is the keyset's name.
const TopicKeys = "keys"

// associatedData binds a ciphertext to its bucket and keyset name.
func associatedData(name string) []byte {
	return []byte("agentid/keystore/v1\x00" + bucketKeysets + "\x00" + name)
}

func getRecord(tx store.Tx, name string) (*record, error) {
	v := tx.Bucket(bucketMeta).Get([]byte(name))
	if v == nil {
		return nil, fmt.Errorf("keystore: keyset %q: %w", name, ErrNotFound)
	}
	rec := new(record)
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("keystore: keyset %q: corrupted metadata: %v", name, err)
	}
	if rec.Version != 1 {
		return nil, fmt.Errorf("keystore: keyset %q: unsupported metadata version %d", name, rec.Version)
	}
	return rec, nil
}

// get reads, decrypts and checks keyset name inside tx. It returns the
// handle, its algorithm, its enabled keys and the metadata record, after
// checking that the record agrees with the keyset.
func (s *Store) get(tx store.Tx, name string) (*keyset.Handle, Algorithm, []tinkKey, *record, error) {
	rec, err := getRecord(tx, name)
	if err != nil {
		return nil, "", nil, nil, err
	}
	ct := tx.Bucket(bucketKeysets).Get([]byte(name))
	if ct == nil {
		return nil, "", nil, nil, fmt.Errorf("keystore: keyset %q: metadata without keyset", name)
	}
	// The Tink error is deliberately dropped: a failure here says nothing
	// useful beyond ErrDecrypt, and nothing derived from the plaintext may
	// reach an error message.
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(ct)), s.master, associatedData(name))
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("keystore: keyset %q: %w", name, ErrDecrypt)
	}
	alg, keys, err := describeKeyset(h)
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("keystore: keyset %q: %w", name, err)
	}
	if alg != rec.Alg {
		return nil, "", nil, nil, fmt.Errorf("keystore: keyset %q: metadata says %s, keyset holds %s keys", name, rec.Alg, alg)
	}
	for _, k := range keys {
		ok := slices.ContainsFunc(rec.Keys, func(r keyRecord) bool {
			return r.KID == k.kid && r.TinkID == k.id && r.Status != statusRetired
		})
		if !ok {
			return nil, "", nil, nil, fmt.Errorf("keystore: keyset %q: metadata does not match keyset", name)
		}
	}
	return h, alg, keys, rec, nil
}

// put encrypts h and writes it with rec inside tx.
func (s *Store) put(tx store.Tx, name string, h *keyset.Handle, rec *record) error {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), s.master, associatedData(name)); err != nil {
		return fmt.Errorf("keystore: keyset %q: encrypt: %v", name, err)
	}
	meta, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("keystore: keyset %q: encode metadata: %v", name, err)
	}
	if err := tx.Bucket(bucketKeysets).Put([]byte(name), buf.Bytes()); err != nil {
		return fmt.Errorf("keystore: keyset %q: %w", name, err)
	}
	if a, ok := tx.(store.Announcer); ok {
		// Other processes on a shared store drop what they derived from
		// the keyset (TopicKeys).
		a.Announce(TopicKeys, name)
	}
	if err := tx.Bucket(bucketMeta).Put([]byte(name), meta); err != nil {
		return fmt.Errorf("keystore: keyset %q: %w", name, err)
	}
	return nil
}

// checkArgs checks the context and validates a keyset name.
func checkArgs(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("keystore: %w: length must be 1 to %d bytes", ErrInvalidName, maxNameLen)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("keystore: %w: %q", ErrInvalidName, name)
		}
	}
	return nil
}
