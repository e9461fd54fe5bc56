package conference

import "bytes"

// What the store knows of its own writes, so that the event projection
// (one revision-checked KV write per event) costs no more than the write:
//
//   - A write's first attempt starts from the record this instance wrote or
//     read last (the decode cache) instead of reading the KV: the view's
//     watcher drops a cached record as soon as it sees a newer revision of
//     it (forgetBefore), so a cached record is the current one unless
//     another instance wrote within the watcher's lag; then the revision
//     check refuses the write and the next attempt reads the leader.
//   - The bytes of a write on its way are registered, so the watcher, which
//     may deliver the write before its acknowledgement reaches the writer,
//     takes the record as written instead of decoding it again.

// inflightWrite is a record write sent and not yet acknowledged.
type inflightWrite struct {
	b []byte
	r *record
}

// latest is confID's record as this instance last wrote or read it, and
// its revision; ok is false when the store keeps none or has no watcher
// to tell it of other writers.
func (s *store) latest(confID string) (r *record, rev uint64, ok bool) {
	if s.view == nil {
		return nil, 0, false
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	c, ok := s.cache[confID]
	return c.r, c.rev, ok
}

// sending registers the write of r, encoded as b, to confID.
func (s *store) sending(confID string, b []byte, r *record) {
	s.cmu.Lock()
	s.inflight[confID] = inflightWrite{b: b, r: r}
	s.cmu.Unlock()
}

// sent ends the registration of the write of b to confID.
func (s *store) sent(confID string, b []byte) {
	s.cmu.Lock()
	if w, ok := s.inflight[confID]; ok && len(w.b) > 0 && len(b) > 0 && &w.b[0] == &b[0] {
		delete(s.inflight, confID)
	}
	s.cmu.Unlock()
}

// decodeSeen is the view's decoder: a revision decoded already, or this
// instance's own write on its way, costs no decoding.
func (s *store) decodeSeen(confID string, rev uint64, value []byte) (*record, error) {
	if r := s.cached(confID, rev); r != nil {
		return r, nil
	}
	s.cmu.Lock()
	w, ok := s.inflight[confID]
	s.cmu.Unlock()
	if ok && bytes.Equal(w.b, value) {
		return w.r, nil
	}
	return decodeRecord(value)
}
