package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentid/agentid/audit/auditlog"
	"github.com/agentid/agentid/keystore"
	"github.com/agentid/agentid/store"
	"github.com/agentid/agentid/store/boltstore"
	"github.com/agentid/agentid/store/pgstore"
)

// CopyReport says what CopyStore copied and checked.
type CopyReport struct {
	Buckets, Keys int
	// AuditEvents is the number of events of the audit chain, verified in
	// the database after the copy.
	AuditEvents uint64
	// MovedTo is where the bbolt file was renamed, so that it is not
	// started again by mistake beside the database.
	MovedTo string
	// IssuerURL is the issuer URL the data directory was initialised for
	// (empty if an earlier release kept no record of it): the replicas
	// must be started with it.
	IssuerURL string
}

// ErrNotEmpty: CopyStore's target database already holds data.
var ErrNotEmpty = errors.New("server: the target database is not empty")

// CopyStore moves the bbolt database of the (stopped) data directory
// dataDir into the empty PostgreSQL database at dsn, in one transaction;
// then it checks that every bucket holds the same keys and values in both
// (a SHA-256 over each), verifies the audit chain in the database with the
// master key, gives this data directory's audit journal its mark there
// (the directory becomes the first replica), and renames the bbolt file
// to agentid.db.moved-to-postgres.
func CopyStore(ctx context.Context, dataDir, dsn string) (*CopyReport, error) {
	dbPath := filepath.Join(dataDir, DBFile)
	if err := boltstore.Validate(dbPath); err != nil {
		return nil, fmt.Errorf("server: %s: %w", dbPath, err)
	}
	master, err := keystore.LoadMaster(filepath.Join(dataDir, MasterKeyFile))
	if err != nil {
		return nil, err
	}
	src, err := boltstore.Open(dbPath, &boltstore.Options{ReadOnly: true})
	if err != nil {
		if errors.Is(err, boltstore.ErrLocked) {
			return nil, fmt.Errorf("server: %s is in use: stop agentid serve first", dbPath)
		}
		return nil, err
	}
	defer src.Close()
	dst, err := pgstore.Open(ctx, dsn, nil)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	have, err := dst.Buckets(ctx)
	if err != nil {
		return nil, err
	}
	if len(have) > 0 {
		return nil, fmt.Errorf("%w: it holds buckets %q", ErrNotEmpty, have)
	}
	names, err := src.Buckets(ctx)
	if err != nil {
		return nil, err
	}
	rep := &CopyReport{Buckets: len(names)}
	err = src.View(ctx, func(stx store.Tx) error {
		return dst.Update(ctx, func(dtx store.Tx) error {
			for _, name := range names {
				d := dtx.Bucket(name)
				if err := stx.Bucket(name).Range(nil, func(k, v []byte) error {
					rep.Keys++
					return d.Put(bytes.Clone(k), bytes.Clone(v))
				}); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("server: copy: %w", err)
	}
	for _, name := range names {
		a, na, err := digest(ctx, src, name)
		if err != nil {
			return nil, err
		}
		b, nb, err := digest(ctx, dst, name)
		if err != nil {
			return nil, err
		}
		if a != b || na != nb {
			return nil, fmt.Errorf("server: copy: bucket %q differs after the copy (%d keys, %d in the database)", name, na, nb)
		}
	}
	ks, err := keystore.Open(dst, master, nil)
	if err != nil {
		return nil, err
	}
	ik, err := ks.IntegrityKeys(ctx)
	if err != nil {
		return nil, err
	}
	log, err := auditlog.Open(dst, &auditlog.Options{Key: ik.Audit})
	if err != nil {
		return nil, err
	}
	vr, err := log.Verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("server: copy: audit chain: %w", err)
	}
	if len(vr.Errors) > 0 {
		return nil, fmt.Errorf("server: copy: the audit chain does not verify in the database: %v", vr.Errors[0])
	}
	rep.AuditEvents = vr.Events
	replica, err := replicaName(dataDir)
	if err != nil {
		return nil, err
	}
	if err := dst.Update(ctx, func(tx store.Tx) error {
		rep.IssuerURL = string(tx.Bucket(metaBucket).Get([]byte(metaIssuerURL)))
		b := tx.Bucket(journalBucket)
		if v := b.Get([]byte("applied")); v != nil {
			return b.Put([]byte("applied/"+replica), bytes.Clone(v))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	src.Close()
	rep.MovedTo = dbPath + ".moved-to-postgres"
	if err := os.Rename(dbPath, rep.MovedTo); err != nil {
		return nil, fmt.Errorf("server: copied and verified, but %s could not be renamed (rename it before starting on PostgreSQL): %w", dbPath, err)
	}
	return rep, nil
}

// journalBucket is auditlog's bucket of journal marks (see
// auditlog.JournalOptions.Name).
const journalBucket = "audit.journal"

// digest hashes a bucket's keys and values, length-prefixed, in order.
func digest(ctx context.Context, st store.Store, bucket string) ([32]byte, int, error) {
	h := sha256.New()
	n := 0
	err := st.View(ctx, func(tx store.Tx) error {
		return tx.Bucket(bucket).Range(nil, func(k, v []byte) error {
			var l [8]byte
			binary.BigEndian.PutUint64(l[:], uint64(len(k)))
			h.Write(l[:])
			h.Write(k)
			binary.BigEndian.PutUint64(l[:], uint64(len(v)))
			h.Write(l[:])
			h.Write(v)
			n++
			return nil
		})
	})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}
