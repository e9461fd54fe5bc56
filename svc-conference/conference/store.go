package conference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
//	contract.FinishedBucket     key <confid>.<created>  value: record (JSON) once deleted, bucket TTL
//	RateLimitBucket             key <clientid>          value: the client's GCRA arrival time (Unix ns), bucket TTL
//
// Every change of a record is a read-modify-write with the revision it read
// (kv.Update), retried on a revision mismatch, so concurrent instances never
// lose each other's update.

// RateLimitBucket holds the per-client invitation buckets shared by all
// instances.
const RateLimitBucket = "confapplet_ratelimits"

// store is the KV-backed state.
type store struct {
	nc     *nats.Conn // for leader reads (getFromLeader); nil: plain get
	confs  jetstream.KeyValue
	owners jetstream.KeyValue
	idem   jetstream.KeyValue
	// finished keeps the records the platform deleted (finished.go).
	finished jetstream.KeyValue
	limits   jetstream.KeyValue // nil when both invitation rate limits are off
	// onConflict counts revision conflicts (metrics).
	onConflict func()
	qmu        sync.Mutex
	queues     map[string]*confQueue // conferences with updates being written
	writers    sync.WaitGroup
	// Idle writer goroutines wait on jobs for the next conference to write
	// (commit.go) until quit closes; nwriters counts them.
	jobs     chan writeJob
	quit     chan struct{}
	quitOnce sync.Once
	nwriters atomic.Int32
	cmu      sync.Mutex
	cache    map[string]cachedRecord
	inflight map[string]inflightWrite // ownwrites.go

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

// wait returns when no write is in progress and the writers have ended;
// the store takes no more updates.
func (s *store) wait() {
	s.quitOnce.Do(func() { close(s.quit) })
	s.writers.Wait()
}

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
				LimitMarkerTTL: limitMarkerTTL(name, ttl),
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
	s := &store{nc: js.Conn(), onConflict: func() {}, queues: map[string]*confQueue{}, cache: map[string]cachedRecord{},
		jobs: make(chan writeJob), quit: make(chan struct{}),
		inflight: map[string]inflightWrite{}}
	var err error
	if s.confs, err = mk(contract.ConfBucket, "confapplet conferences: confid → record", cfg.StateMaxAge, 1); err != nil {
		return nil, err
	}
	if s.owners, err = mk(contract.OwnersBucket, "confapplet owner index: <clientid>.<confid>", cfg.StateMaxAge, 1); err != nil {
		return nil, err
	}
	err = startRetry(ctx, func(ctx context.Context) (err error) {
		s.ownersStream, err = js.Stream(ctx, "KV_"+contract.OwnersBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("owners stream: %w", err)
	}
	if s.finished, err = mk(contract.FinishedBucket, "confapplet finished conferences: <confid>.<created ms> → last record (call records)", cfg.StateMaxAge, 1); err != nil {
		return nil, err
	}
	if s.idem, err = mk(contract.IdempotencyBucket, "confapplet idempotency keys", cfg.IdempotencyTTL, 1); err != nil {
		return nil, err
	}
	if cfg.InviteRatePerSec > 0 || cfg.GlobalRatePerSec > 0 || budgetRefill(cfg) > 0 {
		// A key unused for longer than its bucket takes to refill is full
		// again: let it expire.
		full := time.Duration(0)
		if cfg.InviteRatePerSec > 0 {
			full = time.Duration(float64(cfg.InviteBurst) / cfg.InviteRatePerSec * float64(time.Second))
		}
		if cfg.GlobalRatePerSec > 0 {
			full = max(full, time.Duration(float64(cfg.GlobalBurst)/cfg.GlobalRatePerSec*float64(time.Second)))
		}
		full = max(full, budgetRefill(cfg))
		if s.limits, err = mk(RateLimitBucket, "confapplet invitation rate limits (per client, and the global one)", full+time.Minute, 1); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// get returns confID's record and its revision; errNoRecord when none.
// The record is shared (decoded records are cached by revision): callers
// must not change it; update functions get their own copy.
//
// A direct get may be answered by a replica that has not yet stored a
// record another instance created a moment ago (CreateConf on one
// instance, InviteJoinConf on the other): an absence is confirmed on the
// bucket's leader before it is believed.
func (s *store) get(ctx context.Context, confID string) (*record, uint64, error) {
	var e jetstream.KeyValueEntry
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
		e, err = s.confs.Get(ctx, confID)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) && s.nc != nil {
		return s.getFromLeader(ctx, confID)
	}
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

// getFromLeader is get answered by the bucket's stream leader. KV buckets
// allow direct gets, which any replica answers, so get may return a
// revision a lagging replica (one restarting after a node failure, or just
// slower) still holds: a member written a moment ago may be missing. The
// handlers use getFromLeader to confirm an absence before answering it.
func (s *store) getFromLeader(ctx context.Context, confID string) (*record, uint64, error) {
	var e jetstream.KeyValueEntry
	err := retryJS(ctx, kvAttempt, func(ctx context.Context) (err error) {
		e, err = s.readLeaderEntry(ctx, confID)
		return err
	})
	return s.decode(confID, e, err)
}

// readLeaderEntry reads the last message of confID's subject with the stream's
// STREAM.MSG.GET API (answered by the leader), not a direct get.
func (s *store) readLeaderEntry(ctx context.Context, confID string) (jetstream.KeyValueEntry, error) {
	if s.nc == nil {
		return s.confs.Get(ctx, confID)
	}
	return s.leaderLast(ctx, contract.ConfBucket, confID)
}

// leaderLast reads, through the leader of bucket's stream, the last
// message whose key matches key (a wildcard such as "<confid>.*" matches
// several keys: the newest stored wins). A deleted or purged key is
// jetstream.ErrKeyNotFound.
func (s *store) leaderLast(ctx context.Context, bucket, key string) (jetstream.KeyValueEntry, error) {
	subj := "$KV." + bucket + "." + key
	req, _ := json.Marshal(map[string]string{"last_by_subj": subj})
	m, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
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
		return nil, fmt.Errorf("stream msg get %s: %w", subj, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, jetstream.ErrKeyNotFound
		}
		return nil, resp.Error
	}
	if resp.Message == nil {
		return nil, fmt.Errorf("stream msg get %s: empty answer", subj)
	}
	if len(resp.Message.Hdrs) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Hdrs)
		if err == nil {
			// A key's delete or purge, or the marker of one that expired.
			if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != "" {
				return nil, jetstream.ErrKeyNotFound
			}
		}
	}
	return leaderEntry{key: key, rev: resp.Message.Seq, value: resp.Message.Data}, nil
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
	b, err := marshalRecord(r)
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
			e, err := s.readLeaderEntry(ctx, r.ConfID)
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
