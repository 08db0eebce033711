//go:build !unix

package boltstore

import "os"

// mapFile maps nothing here: Validate reads page by page.
func mapFile(*os.File, int64) ([]byte, func()) { return nil, nil }
