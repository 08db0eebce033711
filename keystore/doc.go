// Package keystore keeps agentid's signing keys: Tink keysets, encrypted at
// rest in the issuer's store (package store) under a master AEAD key, handed out as signers
// that never expose private key material.
//
// # Entry points
//
//   - [Master] (or [LoadOrCreateMasterKey], [MasterKeyFromEnv]) obtains the
//     master AEAD that encrypts every keyset.
//   - [Open] binds a [Store] to a store.Store and a master AEAD.
//   - [Store.Create] makes a named keyset ("issuer", ...) with one key,
//     [Store.Signer] returns a [Signer] for its primary key, and
//     [Store.PublicKeys] lists every key that still verifies.
//   - [Store.Rotate] adds a new primary key; [Store.Retire] removes an old one.
//   - [NewMemorySigner] makes a throwaway in-memory signer for tests of other
//     packages, with no database and no master key.
//
// A short example:
//
//	master, err := keystore.Master("/var/lib/agentid/master.key")
//	...
//	ks, err := keystore.Open(db, master, nil)
//	...
//	if err := ks.Create(ctx, "issuer", keystore.Ed25519); err != nil && !errors.Is(err, keystore.ErrExists) {
//		return err
//	}
//	signer, err := ks.Signer(ctx, "issuer")
//	...
//	sig, err := signer.Sign(signingInput) // raw JWS signature, header uses signer.Alg() and signer.KeyID()
//
// # Algorithms and signatures
//
// Two algorithms are supported, named by their JWS "alg" values: [Ed25519]
// ("EdDSA", the default) and [ES256] (ECDSA P-256 with SHA-256). Keys are
// created with Tink's NO_PREFIX output variant and, for ECDSA, the
// IEEE P1363 signature encoding, so [Signer.Sign] returns exactly the bytes
// a JWS signature carries: 64 bytes for both algorithms (R || S for ES256).
//
// Every key is named by its key ID ("kid"): the RFC 7638 JWK thumbprint
// (SHA-256, base64url without padding) of its public key. The kid is derived
// from the key itself, so it is stable across restarts and can be recomputed
// by any verifier. [Signer.OpaqueSigner] adapts a Signer to go-jose.
//
// # Key management
//
// The master key is 32 random bytes for AES-256-GCM, written as standard
// base64 (with padding) of those bytes, either in a 0600 file or in the
// environment variable named by [EnvMasterKey] (AGENTID_MASTER_KEY). An
// operator makes one with [GenerateMasterKeyString]; `openssl rand -base64 32`
// produces the same format. [Master] prefers the environment variable when it
// is set and not empty, and otherwise loads the file, creating it (mode 0600,
// O_EXCL) on first use. A file that group or others can access is refused
// with [ErrInsecureKeyFile].
//
// Rotation adds a key with the same algorithm and makes it primary; older keys
// stay in [Store.PublicKeys] and keep verifying until [Store.Retire] removes
// them from the keyset. The primary key cannot be retired ([ErrPrimary]).
//
// # Storage
//
// The keystore owns the buckets whose names start with "keystore". Each
// keyset is stored as a Tink EncryptedKeyset, encrypted with the master AEAD
// and with associated data binding it to its bucket and name, so a keyset
// copied under another name does not decrypt. Next to it sits a small
// unencrypted metadata record (kid, algorithm, status, creation and
// retirement time): public information only. Every write happens in one
// store transaction, committed with fsync before the method returns.
//
// Decrypted keysets are cached in memory as Tink signing primitives, so
// signing does not decrypt; the cache is checked against a generation
// counter on every [Store.Signer] call and refreshed after Rotate or Retire.
//
// # Caveats
//
//   - A [Signer] is a snapshot of the primary key at the time it was obtained.
//     After a rotation it keeps signing with the old key (which still
//     verifies until retired); long-lived callers should ask [Store.Signer]
//     per operation, which is cheap.
//   - Private keys live inside Tink primitives in process memory. They are
//     never written in plaintext, logged, returned or included in errors, but
//     a process memory dump would expose them.
//   - A wrong master key and a tampered keyset are indistinguishable by
//     design; both yield [ErrDecrypt].
package keystore
