package conference

import (
	"time"

	"confapplet/pkg/contract"
)

// DefaultStateMaxAge is how long a conference record, with its members'
// phone numbers, stays after its last change: longer than any conference
// lasts, short enough to state as a retention period (docs/operations.md,
// "Personal data"). A record is rewritten at every event, so only ended
// conferences age out.
const DefaultStateMaxAge = 7 * 24 * time.Hour

// limitMarkerTTL is the LimitMarkerTTL of bucket name with the given TTL.
// A record expired by the bucket's max age leaves no trace a watcher sees
// unless the bucket places a marker; the conference bucket needs one, so
// that every instance's view (view.go) forgets the record too instead of
// keeping its numbers in memory and answering reads from it. The marker
// itself holds no data and is gone after an hour (or the TTL, if shorter).
func limitMarkerTTL(name string, ttl time.Duration) time.Duration {
	if name != contract.ConfBucket || ttl <= 0 {
		return 0
	}
	return max(time.Second, min(time.Hour, ttl))
}

// forgetBefore drops confID's decoded record from the decode cache
// (store.go) unless it is of revision rev or later. The view calls it for
// every change it sees, so a record rewritten by another writer (the erase
// command), purged or expired by the bucket's max age does not stay decoded
// in memory with the numbers it had.
func (s *store) forgetBefore(confID string, rev uint64) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if c, ok := s.cache[confID]; ok && c.rev < rev {
		delete(s.cache, confID)
	}
}
