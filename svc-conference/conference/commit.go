package conference

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errSkip returned by an update function leaves the record unchanged.
var errSkip = errors.New("no change")

// errRemove returned by an update function deletes the record, after
// archiving it as fn left it (the deletion time) in FinishedBucket.
var errRemove = errors.New("remove record")

// op is one update waiting for its conference's writer.
type op struct {
	fn   func(*record) error
	done chan error // buffered: the writer never waits for the caller
}

// confQueue holds the updates of one conference waiting to be written.
type confQueue struct {
	ops []*op
}

// update applies fn to confID's record with optimistic concurrency: read,
// change, kv.Update with the revision read; on a conflict read again and
// re-apply. fn must be a pure function of the record it gets (it may run
// more than once) and must leave the record alone when it returns an error.
//
// Within an instance the updates of one conference are group-committed:
// while one write is on its way, the updates that arrive queue up, and the
// next write applies all of them at once. So a burst of invitations into
// one conference costs a few KV round trips, not one each, and revision
// conflicts only come from other instances.
func (s *store) update(ctx context.Context, confID string, fn func(*record) error) error {
	o := &op{fn: fn, done: make(chan error, 1)}
	s.qmu.Lock()
	q := s.queues[confID]
	leader := q == nil
	if leader {
		q = &confQueue{}
		s.queues[confID] = q
	}
	q.ops = append(q.ops, o)
	s.qmu.Unlock()
	if leader {
		s.startWriter(writeJob{confID, q})
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		// The update may still be written: the caller only stops waiting.
		return ctx.Err()
	}
}

// writeJob is a conference whose queued updates need a writer.
type writeJob struct {
	confID string
	q      *confQueue
}

// maxIdleWriters bounds the writer goroutines kept waiting for work.
const maxIdleWriters = 256

// startWriter hands j to an idle writer, or starts one. Writers stay for
// the next conference rather than end: a new goroutine's stack grows
// through JSON and the KV publish on every write, which was measured at
// 8 % of the service's CPU at 1,000 events/s.
func (s *store) startWriter(j writeJob) {
	select {
	case s.jobs <- j:
		return
	default:
	}
	s.writers.Add(1)
	s.nwriters.Add(1)
	go func() {
		defer s.writers.Done()
		defer s.nwriters.Add(-1)
		for {
			s.writer(j.confID, j.q)
			if s.nwriters.Load() > maxIdleWriters {
				return
			}
			select {
			case j = <-s.jobs:
			case <-s.quit:
				return
			}
		}
	}()
}

// writer writes the queued updates of one conference until none is left.
func (s *store) writer(confID string, q *confQueue) {
	for {
		s.qmu.Lock()
		batch := q.ops
		q.ops = nil
		if len(batch) == 0 {
			delete(s.queues, confID)
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs := s.commit(ctx, confID, batch)
		cancel()
		for i, o := range batch {
			o.done <- errs[i]
		}
	}
}

// commit applies batch to the record in one revision-checked write, with
// retries on conflicts; it returns each op's outcome.
func (s *store) commit(ctx context.Context, confID string, batch []*op) []error {
	errs := make([]error, len(batch))
	var removing *pendingRemove
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !backOff(ctx, attempt) {
			return fill(errs, ctx.Err())
		}
		read := s.get
		if attempt > 0 {
			// After a conflict or a failed write, read from the leader: a
			// lagging replica answering direct gets would only conflict again.
			read = s.getFromLeader
		} else if r, rev, ok := s.latest(confID); ok {
			// The record as last written or read here (ownwrites.go): the
			// revision check refuses the write if it is not current.
			read = func(context.Context, string) (*record, uint64, error) { return r, rev, nil }
		}
		r, rev, err := read(ctx, confID)
		if errors.Is(err, errNoRecord) && removing != nil {
			// The delete of the attempt before was stored after all:
			// finish it.
			if err := s.removed(ctx, confID, removing.r.Owner, removing.rev); err != nil {
				return fill(errs, err)
			}
			return removing.errs
		}
		if err != nil {
			return fill(errs, err)
		}
		r, changed, remove := applyOps(r, batch, errs)
		var again bool
		switch {
		case remove:
			var p *pendingRemove
			again, p, err = s.writeRemove(ctx, confID, r, rev, errs)
			if p != nil {
				removing = p
			}
		case !changed:
			return errs
		default:
			again, err = s.writeUpdate(ctx, confID, r, rev)
		}
		switch {
		case again:
		case err != nil:
			return fill(errs, err)
		default:
			return errs
		}
	}
}

// pendingRemove is a delete that was sent but not confirmed.
type pendingRemove struct {
	r    *record
	rev  uint64  // the revision it removed
	errs []error // the ops' outcomes that go with it
}

// backOff waits a little, with jitter, before attempt (another instance
// won the write before); false when ctx ended first.
func backOff(ctx context.Context, attempt int) bool {
	d := time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(time.Millisecond)))
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// fill sets every outcome to err.
func fill(errs []error, err error) []error {
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// applyOps applies the ops in order to copies of r, recording each one's
// outcome in errs; after an op removes the record the rest find none.
func applyOps(r *record, batch []*op, errs []error) (result *record, changed, remove bool) {
	for i, o := range batch {
		if remove {
			errs[i] = errNoRecord
			continue
		}
		c := r.clone()
		switch err := o.fn(c); {
		case err == nil:
			r, changed, errs[i] = c, true, nil
		case errors.Is(err, errSkip):
			errs[i] = nil
		case errors.Is(err, errRemove):
			// The record as fn left it is the one archived (finished.go).
			r, remove, errs[i] = c, true, errRemove
		default:
			errs[i] = err
		}
	}
	return r, changed, remove
}

// writeRemove deletes the record if it is still at rev. again: read and
// apply once more (a conflict, or JetStream did not answer: then pending
// is the delete that may have been stored).
func (s *store) writeRemove(ctx context.Context, confID string, r *record, rev uint64, errs []error) (again bool, pending *pendingRemove, err error) {
	if err := s.archive(ctx, r); err != nil {
		return false, nil, err
	}
	actx, cancel := context.WithTimeout(ctx, kvAttempt)
	err = s.confs.Delete(actx, confID, jetstream.LastRevision(rev))
	cancel()
	if conflict(err) {
		s.onConflict()
		return true, nil, nil
	}
	if retryWrite(ctx, err) {
		return true, &pendingRemove{r: r, rev: rev, errs: slices.Clone(errs)}, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("kv delete %s: %w", confID, err)
	}
	return false, nil, s.removed(ctx, confID, r.Owner, rev)
}

// removed finishes a stored delete: the caches forget the record and the
// owner key goes.
func (s *store) removed(ctx context.Context, confID, owner string, rev uint64) error {
	s.forget(confID)
	s.view.deleted(confID, rev)
	return s.removeOwner(ctx, owner, confID)
}

// writeUpdate writes r if the record is still at rev. again: read and
// apply once more (a conflict, or JetStream did not answer: if the write
// was stored after all, the re-read sees it, and the update functions are
// idempotent).
func (s *store) writeUpdate(ctx context.Context, confID string, r *record, rev uint64) (again bool, err error) {
	b, err := marshalRecord(r)
	if err != nil {
		return false, err
	}
	actx, cancel := context.WithTimeout(ctx, kvAttempt)
	s.sending(confID, b, r)
	nrev, err := s.confs.Update(actx, confID, b, rev)
	cancel()
	if err == nil {
		s.remember(confID, nrev, r)
	}
	s.sent(confID, b)
	if conflict(err) {
		s.onConflict()
		return true, nil
	}
	if retryWrite(ctx, err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("kv update %s: %w", confID, err)
	}
	s.view.wrote(confID, nrev)
	return false, nil
}

// retryWrite reports whether a record write that failed with err is to
// be tried again (read, re-apply, write) within ctx: JetStream did not
// answer, or the attempt timed out, and ctx has time left. It waits a
// little first.
func retryWrite(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || (!unavailable(err) && !errors.Is(err, context.DeadlineExceeded)) {
		return false
	}
	select {
	case <-time.After(time.Duration(50+rand.Int64N(100)) * time.Millisecond):
		return true
	case <-ctx.Done():
		return false
	}
}

// conflict reports a revision mismatch (code 10071 on a single server
// matches ErrKeyExists too).
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}
