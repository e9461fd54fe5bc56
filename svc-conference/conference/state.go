package conference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Conference state lives in three JetStream KV buckets (file storage,
// replicas configurable):
//
//	contract.ConfBucket         key <confid>            value: record (JSON)
//	contract.OwnersBucket       key <clientid>.<confid> value: creation time (RFC 3339)
//	contract.IdempotencyBucket  key <sha256 hex>        value: idemEntry (JSON), bucket TTL
//	RateLimitBucket             key <clientid>          value: the client's GCRA arrival time (Unix ns), bucket TTL
//
// Every change of a record is a read-modify-write with the revision it read
// (kv.Update), retried on a revision mismatch, so concurrent instances never
// lose each other's update.

// record is one conference as stored in ConfBucket. Its JSON is the format
// documented in CONFIG.md.
type record struct {
	V         int                `json:"v"` // format version, 1
	ConfID    string             `json:"confid"`
	Owner     string             `json:"owner"`
	Created   time.Time          `json:"created"`
	State     int                `json:"state"` // contract.StateWaiting/Active/Ending
	MaxMember int                `json:"maxmember"`
	Recording bool               `json:"recording,omitempty"`
	LastSeq   uint64             `json:"seq"`                 // highest event seq applied
	MediaSeq  uint64             `json:"media_seq,omitempty"` // seq of the last recording event applied
	Members   map[string]*member `json:"members"`             // callid → member
}

// member is one call of a conference.
type member struct {
	Number   string    `json:"number"`
	State    string    `json:"state"` // contract.MemberRinging/Joined/Left/Failed
	Result   int       `json:"result,omitempty"`
	Muted    bool      `json:"muted,omitempty"`
	Invited  time.Time `json:"invited,omitzero"`
	Joined   string    `json:"jointime,omitempty"` // platform time, yyyyMMddHHmmss
	Left     string    `json:"quittime,omitempty"`
	MediaSeq uint64    `json:"media_seq,omitempty"` // seq of the last mute/unmute event applied
}

// terminal reports whether a member state never changes again.
func terminal(state string) bool {
	return state == contract.MemberLeft || state == contract.MemberFailed
}

// live counts members that are ringing or joined.
func (r *record) live() int {
	n := 0
	for _, m := range r.Members {
		if !terminal(m.State) {
			n++
		}
	}
	return n
}

// count is the number of members in the conference now (joined).
func (r *record) count() int {
	n := 0
	for _, m := range r.Members {
		if m.State == contract.MemberJoined {
			n++
		}
	}
	return n
}

// view is the GetConf result of r, members ordered by invitation time.
func (r *record) view(loc *time.Location) contract.Conference {
	c := contract.Conference{
		ConfID: r.ConfID, Owner: r.Owner, State: r.State, Count: r.count(),
		MaxMember: r.MaxMember, Created: r.Created.In(loc).Format(contract.TimeLayout),
		Recording: r.Recording, LastSeq: r.LastSeq, Members: []contract.Member{},
	}
	for id, m := range r.Members {
		cm := contract.Member{CallID: id, Number: m.Number, State: m.State, Result: m.Result,
			Muted: m.Muted, Joined: m.Joined, Left: m.Left}
		if !m.Invited.IsZero() {
			cm.Invited = m.Invited.In(loc).Format(contract.TimeLayout)
		}
		c.Members = append(c.Members, cm)
	}
	sort.Slice(c.Members, func(i, j int) bool {
		a, b := c.Members[i], c.Members[j]
		if a.Invited != b.Invited {
			return a.Invited < b.Invited
		}
		return a.CallID < b.CallID
	})
	return c
}

var errNoRecord = errors.New("no conference record")

// RateLimitBucket holds the per-client invitation buckets shared by all
// instances.
const RateLimitBucket = "confapplet_ratelimits"

// store is the KV-backed state.
type store struct {
	nc     *nats.Conn // for leader reads (getLeader); nil: plain get
	confs  jetstream.KeyValue
	owners jetstream.KeyValue
	idem   jetstream.KeyValue
	limits jetstream.KeyValue // nil when both invitation rate limits are off
	// onConflict counts revision conflicts (metrics).
	onConflict func()
	qmu        sync.Mutex
	queues     map[string]*confQueue // conferences with updates being written
	writers    sync.WaitGroup
	cmu        sync.Mutex
	cache      map[string]cachedRecord

	// ownersStream is the owners bucket's stream: ListOwned reads the
	// subjects of "$KV.<bucket>.<clientid>.*" from one stream-info request
	// (no watcher, no consumer: the edge asks on every connect), and an
	// owner key is removed by purging its subject, so no delete marker
	// stays behind to be listed.
	ownersStream jetstream.Stream

	// view is the in-memory copy of confs the read methods use (nil: off);
	// every write of confs is registered with it (read your own writes).
	view *confView
}

// wait returns when no write is in progress.
func (s *store) wait() { s.writers.Wait() }

// openStore creates or binds the buckets.
func openStore(ctx context.Context, js jetstream.JetStream, cfg Config) (*store, error) {
	// Every creation is retried with short attempts until ctx (the start
	// deadline) ends: two instances creating the same replicated bucket at
	// once on a fresh cluster may both hang, and a create that lost such a
	// race, or timed out after the server did it, is finished by binding.
	mk := func(name, desc string, ttl time.Duration, history uint8) (jetstream.KeyValue, error) {
		var kv jetstream.KeyValue
		err := startRetry(ctx, func(ctx context.Context) error {
			var err error
			kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: name, Description: desc, Storage: jetstream.FileStorage,
				Replicas: cfg.KVReplicas, TTL: ttl, History: history,
			})
			if err != nil && alreadyExists(err) {
				kv, err = js.KeyValue(ctx, name)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("kv bucket %s: %w", name, err)
		}
		return kv, nil
	}
	s := &store{nc: js.Conn(), onConflict: func() {}, queues: map[string]*confQueue{}, cache: map[string]cachedRecord{}}
	var err error
	if s.confs, err = mk(contract.ConfBucket, "confapplet conferences: confid → record", 0, 1); err != nil {
		return nil, err
	}
	if s.owners, err = mk(contract.OwnersBucket, "confapplet owner index: <clientid>.<confid>", 0, 1); err != nil {
		return nil, err
	}
	err = startRetry(ctx, func(ctx context.Context) (err error) {
		s.ownersStream, err = js.Stream(ctx, "KV_"+contract.OwnersBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("owners stream: %w", err)
	}
	if s.idem, err = mk(contract.IdempotencyBucket, "confapplet idempotency keys", cfg.IdempotencyTTL, 1); err != nil {
		return nil, err
	}
	if cfg.InviteRatePerSec > 0 || cfg.GlobalRatePerSec > 0 {
		// A key unused for longer than its bucket takes to refill is full
		// again: let it expire.
		full := time.Duration(0)
		if cfg.InviteRatePerSec > 0 {
			full = time.Duration(float64(cfg.InviteBurst) / cfg.InviteRatePerSec * float64(time.Second))
		}
		if cfg.GlobalRatePerSec > 0 {
			full = max(full, time.Duration(float64(cfg.GlobalBurst)/cfg.GlobalRatePerSec*float64(time.Second)))
		}
		if s.limits, err = mk(RateLimitBucket, "confapplet invitation rate limits (per client, and the global one)", full+time.Minute, 1); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// get returns confID's record and its revision; errNoRecord when none.
// The record is shared (decoded records are cached by revision): callers
// must not change it; update functions get their own copy.
func (s *store) get(ctx context.Context, confID string) (*record, uint64, error) {
	var e jetstream.KeyValueEntry
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
		e, err = s.confs.Get(ctx, confID)
		return err
	})
	return s.decode(confID, e, err)
}

// read is get answered from the view when it can (see confView.lookup);
// for the read methods only, never for a read-modify-write. An absence in
// the view is confirmed with a KV read: a record another instance created a
// moment ago (CreateConf, then AuthorizeWatch on another instance) may not
// have reached this instance's watcher yet.
func (s *store) read(ctx context.Context, confID string) (*record, error) {
	if r, ok := s.view.lookup(confID); ok && r != nil {
		s.view.hits.Inc()
		return r, nil
	}
	if s.view != nil {
		s.view.misses.Inc()
	}
	r, _, err := s.get(ctx, confID)
	return r, err
}

// getLeader is get answered by the bucket's stream leader. KV buckets
// allow direct gets, which any replica answers, so get may return a
// revision a lagging replica (one restarting after a node failure, or just
// slower) still holds: a member written a moment ago may be missing. The
// handlers use getLeader to confirm an absence before answering it.
func (s *store) getLeader(ctx context.Context, confID string) (*record, uint64, error) {
	var e jetstream.KeyValueEntry
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
		e, err = s.leaderGet(ctx, confID)
		return err
	})
	return s.decode(confID, e, err)
}

// leaderGet reads the last message of confID's subject with the stream's
// STREAM.MSG.GET API (answered by the leader), not a direct get.
func (s *store) leaderGet(ctx context.Context, confID string) (jetstream.KeyValueEntry, error) {
	if s.nc == nil {
		return s.confs.Get(ctx, confID)
	}
	subj := "$KV." + contract.ConfBucket + "." + confID
	req, _ := json.Marshal(map[string]string{"last_by_subj": subj})
	m, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+contract.ConfBucket, req)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Seq  uint64 `json:"seq"`
			Data []byte `json:"data"`
			Hdrs []byte `json:"hdrs"`
		} `json:"message"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, fmt.Errorf("stream msg get %s: %w", confID, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, jetstream.ErrKeyNotFound
		}
		return nil, resp.Error
	}
	if resp.Message == nil {
		return nil, fmt.Errorf("stream msg get %s: empty answer", confID)
	}
	if len(resp.Message.Hdrs) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Hdrs)
		if err == nil {
			if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				return nil, jetstream.ErrKeyNotFound
			}
		}
	}
	return leaderEntry{key: confID, rev: resp.Message.Seq, value: resp.Message.Data}, nil
}

// leaderEntry is the part of jetstream.KeyValueEntry decode uses.
type leaderEntry struct {
	jetstream.KeyValueEntry
	key   string
	rev   uint64
	value []byte
}

func (e leaderEntry) Key() string      { return e.key }
func (e leaderEntry) Revision() uint64 { return e.rev }
func (e leaderEntry) Value() []byte    { return e.value }

func (s *store) decode(confID string, e jetstream.KeyValueEntry, err error) (*record, uint64, error) {
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		s.forget(confID)
		return nil, 0, errNoRecord
	}
	if err != nil {
		return nil, 0, fmt.Errorf("kv get %s: %w", confID, err)
	}
	if r := s.cached(confID, e.Revision()); r != nil {
		return r, e.Revision(), nil
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("kv record %s: %w", confID, err)
	}
	if r.Members == nil {
		r.Members = map[string]*member{}
	}
	s.remember(confID, e.Revision(), &r)
	return &r, e.Revision(), nil
}

// The decode cache: a record is decoded once per revision, which matters
// for large conferences (every invitation reads the record, and each
// write re-reads it). A revision identifies the bytes, so a hit is exact.
type cachedRecord struct {
	rev uint64
	r   *record
}

const maxCached = 4096

func (s *store) cached(confID string, rev uint64) *record {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if c, ok := s.cache[confID]; ok && c.rev == rev {
		return c.r
	}
	return nil
}

func (s *store) remember(confID string, rev uint64, r *record) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	if c, ok := s.cache[confID]; !ok || c.rev < rev {
		s.cache[confID] = cachedRecord{rev: rev, r: r}
	}
}

func (s *store) forget(confID string) {
	s.cmu.Lock()
	delete(s.cache, confID)
	s.cmu.Unlock()
}

// create writes a new conference and its owner key.
func (s *store) create(ctx context.Context, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// Put, not Create: a confid the platform reuses after a deletion this
	// service missed replaces the stale record. A retry (the attempt before
	// timed out, JetStream may have stored it) first looks whether the
	// record is there: an event may have been applied to it since.
	attempt := 0
	err = retryJS(ctx, kvAttempt, func(ctx context.Context) error {
		attempt++
		if attempt > 1 {
			e, err := s.leaderGet(ctx, r.ConfID)
			if err == nil {
				var cur record
				if json.Unmarshal(e.Value(), &cur) == nil && cur.Owner == r.Owner && cur.Created.Equal(r.Created) {
					s.view.wrote(r.ConfID, e.Revision())
					return nil
				}
			} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
				return err
			}
		}
		rev, err := s.confs.Put(ctx, r.ConfID, b)
		if err == nil {
			s.view.wrote(r.ConfID, rev)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("kv put %s: %w", r.ConfID, err)
	}
	err = retryJS(ctx, kvAttempt, func(ctx context.Context) error {
		_, err := s.owners.Put(ctx, ownerKey(r.Owner, r.ConfID), []byte(r.Created.UTC().Format(time.RFC3339)))
		return err
	})
	if err != nil {
		return fmt.Errorf("kv put owner %s: %w", r.ConfID, err)
	}
	return nil
}

// errSkip returned by an update function leaves the record unchanged.
var errSkip = errors.New("no change")

// errRemove returned by an update function deletes the record.
var errRemove = errors.New("remove record")

// clone copies r deeply enough for an update function to change the copy.
func (r *record) clone() *record {
	c := *r
	c.Members = make(map[string]*member, len(r.Members))
	for id, m := range r.Members {
		mc := *m
		c.Members[id] = &mc
	}
	return &c
}

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
		s.writers.Add(1)
		go func() {
			defer s.writers.Done()
			s.writer(confID, q)
		}()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		// The update may still be written: the caller only stops waiting.
		return ctx.Err()
	}
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
	var (
		removing    *record // a delete was sent but not confirmed
		removingRev uint64  // the revision it removed
		removeErrs  []error // the outcomes that go with it
	)
	fill := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// Another instance won: back off a little, with jitter.
			d := time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(time.Millisecond)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return fill(ctx.Err())
			}
		}
		read := s.get
		if attempt > 0 {
			// After a conflict or a failed write, read from the leader: a
			// lagging replica answering direct gets would only conflict again.
			read = s.getLeader
		}
		r, rev, err := read(ctx, confID)
		if errors.Is(err, errNoRecord) && removing != nil {
			// The delete of the attempt before was stored after all:
			// finish it.
			s.forget(confID)
			s.view.deleted(confID, removingRev)
			if err := s.removeOwner(ctx, removing.Owner, confID); err != nil {
				return fill(err)
			}
			return removeErrs
		}
		if err != nil {
			return fill(err)
		}
		changed, remove := false, false
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
				remove, errs[i] = true, errRemove
			default:
				errs[i] = err
			}
		}
		switch {
		case remove:
			actx, cancel := context.WithTimeout(ctx, kvAttempt)
			err := s.confs.Delete(actx, confID, jetstream.LastRevision(rev))
			cancel()
			if conflict(err) {
				s.onConflict()
				continue
			}
			if retryWrite(ctx, err) {
				removing, removingRev, removeErrs = r, rev, slices.Clone(errs)
				continue
			}
			if err != nil {
				return fill(fmt.Errorf("kv delete %s: %w", confID, err))
			}
			s.forget(confID)
			s.view.deleted(confID, rev)
			if err := s.removeOwner(ctx, r.Owner, confID); err != nil {
				return fill(err)
			}
			return errs
		case !changed:
			return errs
		}
		b, err := json.Marshal(r)
		if err != nil {
			return fill(err)
		}
		actx, cancel := context.WithTimeout(ctx, kvAttempt)
		nrev, err := s.confs.Update(actx, confID, b, rev)
		cancel()
		if conflict(err) {
			s.onConflict()
			continue
		}
		if retryWrite(ctx, err) {
			// JetStream did not answer (a leader election): read again and
			// re-apply. If the write was stored after all, the re-read
			// sees it, and the update functions are idempotent.
			continue
		}
		if err != nil {
			return fill(fmt.Errorf("kv update %s: %w", confID, err))
		}
		s.remember(confID, nrev, r)
		s.view.wrote(confID, nrev)
		return errs
	}
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

// owned lists the confids clientID owns.
func (s *store) owned(ctx context.Context, clientID string) ([]string, error) {
	prefix := "$KV." + contract.OwnersBucket + "." + clientID + "."
	var info *jetstream.StreamInfo
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
		info, err = s.ownersStream.Info(ctx, jetstream.WithSubjectFilter(prefix+"*"))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list owner %s: %w", clientID, err)
	}
	ids := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		ids = append(ids, strings.TrimPrefix(subj, prefix))
	}
	sort.Strings(ids)
	return ids, nil
}

// removeOwner drops the owner key of confID.
func (s *store) removeOwner(ctx context.Context, owner, confID string) error {
	subj := "$KV." + contract.OwnersBucket + "." + ownerKey(owner, confID)
	if err := retryJS(ctx, kvAttempt, func(ctx context.Context) error {
		return s.ownersStream.Purge(ctx, jetstream.WithPurgeSubject(subj))
	}); err != nil {
		return fmt.Errorf("purge owner key %s: %w", confID, err)
	}
	return nil
}

func ownerKey(clientID, confID string) string { return clientID + "." + confID }
