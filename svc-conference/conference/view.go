package conference

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// confView is an in-memory copy of the conferences bucket, kept current by
// a KV watcher (all current values, then every change), so that the read
// methods (QueryConfState, GetConf, AuthorizeWatch) answer without a KV
// round trip. Writes never go through it: they stay revision-checked
// updates against the KV (store.commit).
//
// Consistency (CONFIG.md, "Reads from the in-memory view"):
//
//   - A KV revision is the bucket stream's sequence, so the watcher delivers
//     revisions in increasing order; seen is the last one applied, and the
//     view reflects every write with a revision ≤ seen.
//   - Read your own writes: every write this instance makes is registered
//     (wrote/deleted) with the revision the KV returned before the write's
//     caller gets its reply. A lookup of a key whose own write the watcher
//     has not delivered yet (revision > seen, or a delete not seen yet)
//     answers "not here", and the caller reads the KV.
//   - Writes of other instances appear when the watcher delivers them
//     (normally well under a millisecond later).
//   - Until the initial values are in, after the watcher stopped, or when
//     the view is over its size bound, lookups answer "not here".
type confView struct {
	kv  jetstream.KeyValue
	log zerolog.Logger
	max int // records held at most

	mu      sync.RWMutex
	recs    map[string]*record // confid → current record (shared, read-only)
	seen    uint64             // highest revision applied
	pending map[string]ownWrite
	behind  uint64 // with pending over its bound: reads wait until seen ≥ behind
	full    bool   // a record was left out (over max): absences are not authoritative
	live    int    // members ringing or joined over every record held (budget.go)

	synced atomic.Bool // initial values applied and the watcher running
	nc     *nats.Conn
	w      jetstream.KeyWatcher
	wctx   context.Context
	cancel context.CancelFunc
	done   chan struct{} // run returned
	quit   chan struct{} // closed by stop
	drains sync.WaitGroup
	decode func(key string, rev uint64, value []byte) (*record, error)
	gone   func(key string, rev uint64) // a change of key at rev seen (retention.go)

	// hits and misses count the read methods' reads answered from the view
	// and those that went to the KV (counted by the callers of lookup).
	hits, misses prometheus.Counter
}

// ownWrite is a write of this instance the watcher has not delivered yet.
type ownWrite struct {
	rev uint64 // the write's revision (a put), or the revision the delete removed
	del bool
}

// maxPending bounds the own writes waiting for the watcher; beyond it reads
// of any key fall back to the KV until the watcher catches up.
const maxPending = 1 << 16

// startView watches kv and returns once the initial values are applied
// (or ctx ends: the view then syncs in the background and lookups fall back
// to the KV until it has). nc is the connection kv uses: after it
// reconnects, the watcher is made anew (see run).
func startView(ctx context.Context, nc *nats.Conn, kv jetstream.KeyValue, max int, log zerolog.Logger,
	decode func(string, uint64, []byte) (*record, error), gone func(string, uint64), hits, misses prometheus.Counter) (*confView, error) {
	v := &confView{nc: nc, kv: kv, log: log, max: max, recs: map[string]*record{}, pending: map[string]ownWrite{},
		done: make(chan struct{}), quit: make(chan struct{}), decode: decode, gone: gone, hits: hits, misses: misses}
	// The watchers outlive ctx: stop ends them (a subscription also waits
	// on the context it was made with, so that one is canceled too).
	v.wctx, v.cancel = context.WithCancel(context.Background())
	err := startRetry(ctx, func(context.Context) (err error) {
		v.w, err = kv.WatchAll(v.wctx)
		return err
	})
	if err != nil {
		v.cancel()
		return nil, err
	}
	synced := make(chan struct{})
	go v.run(synced)
	select {
	case <-synced:
	case <-ctx.Done():
	}
	return v, nil
}

// run applies the watcher's entries until stop. When the connection has
// reconnected (the watcher's ordered consumer was seen to stall after a
// NATS restart) or the watcher ended on its own, the view stops answering,
// and a new watcher loads every current value again.
func (v *confView) run(synced chan struct{}) {
	defer close(v.done)
	defer v.synced.Store(false)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	reconnects := v.nc.Stats().Reconnects
	for {
		restart := false
		for !restart {
			select {
			case e, ok := <-v.w.Updates():
				switch {
				case !ok:
					restart = true
				case e == nil:
					v.markSynced()
					if synced != nil {
						close(synced)
						synced = nil
					}
				default:
					v.apply(e)
				}
			case <-tick.C:
				if rc := v.nc.Stats().Reconnects; rc != reconnects {
					reconnects, restart = rc, true
				}
			case <-v.quit:
				return
			}
		}
		v.synced.Store(false)
		v.log.Info().Msg("view: watching the conferences anew")
		v.drop(v.w)
		for {
			w, err := v.kv.WatchAll(v.wctx)
			if err == nil {
				v.w = w
				break
			}
			select {
			case <-v.quit:
				v.w = nil
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
		v.mu.Lock()
		clear(v.recs)
		v.full, v.live = false, 0
		v.mu.Unlock()
	}
}

// drop stops w and empties its channel in the background until it closes
// (the subscription's callback must not stay blocked on it).
func (v *confView) drop(w jetstream.KeyWatcher) {
	if w == nil {
		return
	}
	_ = w.Stop()
	ch := w.Updates()
	v.drains.Add(1)
	go func() {
		defer v.drains.Done()
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-time.After(5 * time.Second):
				return
			}
		}
	}()
}

// markSynced: the initial values are applied; own writes they include are
// no longer pending.
func (v *confView) markSynced() {
	v.mu.Lock()
	for key, p := range v.pending {
		_, held := v.recs[key]
		if !p.del && v.seen >= p.rev || p.del && !held && v.seen > p.rev {
			delete(v.pending, key)
		}
	}
	v.mu.Unlock()
	v.synced.Store(true)
}

func (v *confView) apply(e jetstream.KeyValueEntry) {
	key, rev := e.Key(), e.Revision()
	if v.gone != nil {
		v.gone(key, rev)
	}
	var r *record
	if e.Operation() == jetstream.KeyValuePut {
		var err error
		if r, err = v.decode(key, rev, e.Value()); err != nil {
			v.log.Error().Err(err).Str("key", key).Msg("view: undecodable record; left out")
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if old := v.recs[key]; old != nil {
		v.live -= old.live()
	}
	switch {
	case r != nil:
		if _, ok := v.recs[key]; ok || len(v.recs) < v.max {
			v.recs[key] = r
			v.live += r.live()
		} else {
			if !v.full {
				v.log.Warn().Int("max", v.max).Msg("view full: conferences beyond it are read from the KV")
			}
			v.full = true
		}
	default:
		// A delete, a purge, or a record that cannot be decoded: readers
		// must not see the old value.
		delete(v.recs, key)
		if e.Operation() == jetstream.KeyValuePut {
			v.pending[key] = ownWrite{rev: rev + 1} // undecodable: read the KV until the next change
		}
	}
	if rev > v.seen {
		v.seen = rev
	}
	if p, ok := v.pending[key]; ok {
		if p.del && e.Operation() != jetstream.KeyValuePut && rev > p.rev || !p.del && rev >= p.rev {
			delete(v.pending, key)
		}
	}
}

// wrote registers this instance's put of key at rev.
func (v *confView) wrote(key string, rev uint64) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if rev <= v.seen {
		return // already delivered
	}
	if p, ok := v.pending[key]; ok && !p.del && p.rev >= rev {
		return
	}
	v.add(key, ownWrite{rev: rev})
}

// deleted registers this instance's delete of key, whose record had
// revision rev (the delete's own revision is not returned by the KV).
func (v *confView) deleted(key string, rev uint64) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.recs[key]; !ok && v.seen > rev {
		return // the delete (or a later one) was delivered already
	}
	v.add(key, ownWrite{rev: rev, del: true})
}

func (v *confView) add(key string, w ownWrite) {
	if len(v.pending) >= maxPending {
		// Too many unconfirmed writes (the watcher is far behind): every
		// read goes to the KV until it has caught up with this one.
		v.behind = max(v.behind, w.rev+1)
		return
	}
	v.pending[key] = w
}

// lookup returns key's record from the view. ok is false when the view
// cannot answer (not in sync, a write of this instance not delivered yet,
// the view full): the caller reads the KV. r == nil with ok means no such
// record. r is shared: callers must not change it.
func (v *confView) lookup(key string) (r *record, ok bool) {
	return v.lookupBytes([]byte(key))
}

// lookupBytes is lookup of a key given as bytes (no string allocated).
func (v *confView) lookupBytes(key []byte) (r *record, ok bool) {
	if v == nil || !v.synced.Load() {
		return nil, false
	}
	v.mu.RLock()
	r = v.recs[string(key)]
	ok = v.seen >= v.behind
	if _, pend := v.pending[string(key)]; pend {
		ok = false
	}
	if r == nil && v.full {
		ok = false
	}
	v.mu.RUnlock()
	return r, ok
}

// stop stops the watcher and waits (a while) for its goroutines.
func (v *confView) stop() {
	if v == nil {
		return
	}
	v.synced.Store(false)
	close(v.quit)
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
		v.log.Warn().Msg("view watcher did not stop")
	}
	v.drop(v.w)
	v.cancel()
	v.drains.Wait()
}

// liveCalls is the number of members ringing or joined in every
// conference; ok is false when the view cannot vouch for it (not in sync,
// or full).
func (v *confView) liveCalls() (n int, ok bool) {
	if v == nil || !v.synced.Load() {
		return 0, false
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.live, !v.full
}

// size is the number of records held.
func (v *confView) size() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.recs)
}

// decodeRecord decodes a stored record.
func decodeRecord(value []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, err
	}
	if r.Members == nil {
		r.Members = map[string]*member{}
	}
	return &r, nil
}
