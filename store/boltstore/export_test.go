package boltstore

import "os"

// ValidateUnmapped is Validate reading page by page (as on systems
// without mmap), so that tests cover both ways of reading.
func ValidateUnmapped(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := check(f, fi.Size(), nil); err != nil {
		return validateError(path, err)
	}
	return nil
}

// TxID is the id of the last committed read-write transaction: it grows
// by one per commit.
func TxID(s *Store) int {
	tx, err := s.db.Begin(false)
	if err != nil {
		panic(err)
	}
	defer tx.Rollback()
	return tx.ID()
}

// Pending is how many Batch callers wait for the next commit.
func Pending(s *Store) int {
	return s.batches.Waiting()
}
