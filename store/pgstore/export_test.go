package pgstore

// Closing reports whether Close has begun (for tests).
func Closing(s *Store) bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closed
}
