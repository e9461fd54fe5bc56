package conference

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// A conference's record is deleted when the platform reports the
// conference deleted, but its calls are what the platform bills: before
// the delete, the record as it ended (members with their numbers, invite,
// join and quit times, results, and the deletion time) is put in
// FinishedBucket, where `svc-conference records` (records.go) reads it.
// The bucket has the conferences bucket's max age (CONF_STATE_MAX_AGE),
// so the call records, numbers included, are kept as long as the state
// they come from (docs/operations.md, "Personal data"); the erase command
// reaches them too.

// finishedKey is the record's key: a confid the platform reuses after a
// deletion gets a key of its own.
func finishedKey(r *record) string {
	return r.ConfID + "." + strconv.FormatInt(r.Created.UnixMilli(), 10)
}

// archive puts r in FinishedBucket. Done again when the delete that
// follows is retried: a put of the same key replaces it with the newer
// record.
func (s *store) archive(ctx context.Context, r *record) error {
	if s.finished == nil {
		return nil
	}
	c := *r
	c.Finished = time.Now().UTC()
	b, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	err = retryJS(ctx, kvAttempt, func(ctx context.Context) error {
		_, err := s.finished.Put(ctx, finishedKey(r), b)
		return err
	})
	if err != nil {
		return fmt.Errorf("kv put finished %s: %w", r.ConfID, err)
	}
	return nil
}
