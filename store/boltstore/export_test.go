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
