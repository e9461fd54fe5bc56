package conference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
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

// ended returns the newest archived record of confID: the last conference
// the platform ran under that confid. errNoRecord when there is none (never
// archived, or expired or erased). Read through the bucket's stream
// leader, which matches every key of confID at once; the archive is
// written before the live record is deleted, so a conference whose record
// is gone has it.
func (s *store) ended(ctx context.Context, confID string) (*record, error) {
	if s.finished == nil || s.nc == nil {
		return nil, errNoRecord
	}
	var e jetstream.KeyValueEntry
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
		e, err = s.leaderLast(ctx, contract.FinishedBucket, confID+".*")
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, errNoRecord
	}
	if err != nil {
		return nil, fmt.Errorf("kv get finished %s: %w", confID, err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("kv finished record %s: %w", confID, err)
	}
	if r.ConfID != confID {
		return nil, errNoRecord
	}
	return &r, nil
}

// authorizeEnded is AuthorizeWatch for a conference without a live record
// (notFound is that answer): one that has ended may still be watched by
// whoever could watch it live (its owner, a watch grant, an operator), so
// that a client away when it ended replays the events it missed, up to
// OnConfDel, from the events stream. Anyone else gets notFound, as for a
// confid never used: an ended conference tells a stranger nothing.
func (s *Service) authorizeEnded(c *call, confID string, notFound *contract.Error) (any, *contract.Error) {
	r, err := s.st.ended(c.ctx, confID)
	if errors.Is(err, errNoRecord) {
		return nil, notFound
	}
	if err != nil {
		return nil, s.internal(c, err)
	}
	if !c.operator && r.Owner != c.clientID && !granted(c.grants, confID) {
		return nil, notFound
	}
	return contract.WatchAuthorization{Ended: true}, nil
}
