package boltstore

import (
	"context"

	"go.etcd.io/bbolt"
)

// Buckets returns the names of the buckets in the file, in byte order
// (for copying a store to another implementation).
func (s *Store) Buckets(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var names []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return names, nil
}
