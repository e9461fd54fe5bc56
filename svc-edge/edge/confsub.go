package edge

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"confapplet/pkg/logging"
	"confapplet/pkg/streams"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// confSub is the edge's subscription to one conference.
type confSub struct {
	h      *hub
	confID string
	subj   string
	sub    *nats.Subscription
	initMu sync.Mutex

	mu       sync.Mutex
	watchers []*watch // copy-on-write: fan-out iterates without the lock
	ready    bool     // cursor initialised
	cursor   uint64   // stream sequence of the last event fanned out
	bell     bool     // a doorbell rang while fetching (or before ready)
	fetching bool
	closed   bool
	lastSeq  uint64   // event seq of the last event fanned out
	want     uint64   // highest event seq a doorbell announced
	index    []seqPos // recent events' stream positions, by seq (see position)
	leader   bool     // read through the stream leader (after a leader change, or a lagging replica)

	// fanMu orders fan-outs: the live path and a read of the stream each
	// advance the cursor and broadcast under it, so watchers get events in
	// cursor order.
	fanMu sync.Mutex
}

// seqPos locates event seq at stream sequence sseq.
type seqPos struct{ seq, sseq uint64 }

// indexLen bounds confSub.index.
const indexLen = 256

// remember records where event seq is stored (from live fetches and
// replays), so that a replay from a recent seq starts there instead of
// scanning the conference's whole history.
func (cs *confSub) remember(seq, sseq uint64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	i := len(cs.index)
	for i > 0 && cs.index[i-1].seq >= seq {
		if cs.index[i-1].seq == seq {
			return
		}
		i--
	}
	cs.index = slices.Insert(cs.index, i, seqPos{seq, sseq})
	if len(cs.index) > indexLen {
		cs.index = slices.Delete(cs.index, 0, len(cs.index)-indexLen)
	}
}

// position returns the stream sequence from which to look for the events
// after seq: just after the latest known event ≤ seq (events of one
// conference are stored in seq order), else 1.
func (cs *confSub) position(seq uint64) uint64 {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	i, _ := slices.BinarySearchFunc(cs.index, seq+1, func(p seqPos, t uint64) int { return cmp.Compare(p.seq, t) })
	if i == 0 {
		return 1
	}
	return cs.index[i-1].sseq + 1
}

// storeWait is how long the edge keeps looking in the stream for an event a
// doorbell announced: the replica that answers a direct get may not have
// stored it yet.
var storeWait = []time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond}

// init sets the cursor to the last stored event, once. Every event stored
// after it is republished to us (the subscription exists already, and NATS
// handles our SUB before our later stream read); older ones are the
// watchers' replay.
func (cs *confSub) init(ctx context.Context) {
	cs.initMu.Lock()
	defer cs.initMu.Unlock()
	cs.mu.Lock()
	ready := cs.ready
	cs.mu.Unlock()
	if ready {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cs.h.timeout)
	defer cancel()
	streamSeq, seq, err := cs.h.lastStored(ctx, cs.confID)
	if err != nil {
		// Start from the beginning: slower, never wrong (watchers skip seqs
		// they already have).
		cs.h.log.Warn().Err(err).Str(logging.ConfID, cs.confID).Msg("events stream: last message")
		streamSeq, seq = 0, 0
	}
	cs.mu.Lock()
	cs.cursor, cs.lastSeq, cs.ready = streamSeq, seq, true
	bell := cs.bell
	cs.mu.Unlock()
	if bell {
		cs.ring()
	}
}

// announce handles a doorbell announcing event seq (0 if unreadable): a
// seq already fanned out costs nothing; anything else starts a fetch.
func (cs *confSub) announce(seq uint64) {
	cs.mu.Lock()
	if seq != 0 && seq <= cs.lastSeq && cs.ready {
		cs.mu.Unlock()
		return
	}
	if seq > cs.want {
		cs.want = seq
	}
	cs.mu.Unlock()
	cs.ring()
}

// resync reads the stream from the cursor through the stream leader: after
// a reconnect or a new stream leader, republished events may have been
// lost on the way.
func (cs *confSub) resync() {
	cs.mu.Lock()
	cs.leader = true
	cs.mu.Unlock()
	cs.ring()
}

// ring starts a fetch, or marks one to run again.
func (cs *confSub) ring() {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		return
	}
	if !cs.ready || cs.fetching {
		cs.bell = true
		cs.mu.Unlock()
		return
	}
	cs.fetching, cs.bell = true, false
	cs.mu.Unlock()
	go cs.fetch()
}

// live fans out an event the stream republished after storing it. The
// next one of the conference (its predecessor's stream sequence is the
// cursor) goes straight to the watchers, without reading the stream;
// anything else (republished events were missed: a leader change, a
// reconnect; or the cursor is not placed yet, or a read is running) is a
// doorbell for a read of the stream from the cursor.
func (cs *confSub) live(m *nats.Msg) {
	sseq, err1 := strconv.ParseUint(m.Header.Get(streams.HeaderStreamSeq), 10, 64)
	prev, err2 := strconv.ParseUint(m.Header.Get(streams.HeaderPrevStreamSeq), 10, 64)
	seq, msg, bad := encodeEvent(m.Data)
	cs.fanMu.Lock()
	defer cs.fanMu.Unlock()
	cs.mu.Lock()
	if err1 != nil || err2 != nil || !cs.ready || cs.fetching || prev != cs.cursor {
		stale := cs.ready && err1 == nil && sseq <= cs.cursor
		cs.mu.Unlock()
		if !stale { // an event fanned out already costs nothing
			cs.announce(seq)
		}
		return
	}
	cs.cursor = sseq
	if bad == nil && seq > cs.lastSeq {
		cs.lastSeq = seq
	}
	ws := cs.watchers
	cs.mu.Unlock()
	cs.h.metrics.eventsIn.Inc()
	cs.h.metrics.observeLag(storedAt(m))
	if bad != nil {
		cs.h.log.Warn().Err(bad).Str(logging.ConfID, cs.confID).Uint64("stream_seq", sseq).Msg("events stream: bad event skipped")
		return
	}
	cs.remember(seq, sseq)
	cs.broadcast(ws, seq, msg, m.Header)
}

// storedAt is when the stream stored a republished event (its
// Nats-Time-Stamp header), zero if the header is unreadable.
func storedAt(m *nats.Msg) time.Time {
	t, err := time.Parse(time.RFC3339Nano, m.Header.Get(streams.HeaderStoredAt))
	if err != nil {
		return time.Time{}
	}
	return t
}

// fetch reads every event stored after the cursor and fans each out, until
// nothing announced is left to read. When a doorbell announced an event
// that is not read yet, it looks again a few times (storeWait), through
// the stream leader after the first tries, before it gives up; after a
// failed read it tries again a second later.
func (cs *confSub) fetch() {
	waits := 0
	for {
		failed := cs.drain() != nil
		again, pause := cs.settle(failed, &waits)
		if !again {
			if failed {
				time.AfterFunc(time.Second, cs.ring)
			}
			return
		}
		time.Sleep(pause)
	}
}

// drain reads and fans out, in order, the events stored after the cursor,
// until the stream has no more. It returns the read error that stopped it,
// nil otherwise.
func (cs *confSub) drain() error {
	h := cs.h
	cs.mu.Lock()
	cur, leader := cs.cursor, cs.leader
	cs.mu.Unlock()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		m, err := h.nextVia(ctx, cs.confID, cur+1, leader)
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			h.metrics.fetchFailures.Inc()
			h.log.Warn().Err(err).Str(logging.ConfID, cs.confID).Msg("events stream: read")
			return err
		}
		cur = m.Sequence
		h.metrics.eventsIn.Inc()
		h.metrics.observeLag(m.Time)
		seq, msg, bad := encodeEvent(m.Data)
		if bad == nil {
			cs.remember(seq, cur)
		}
		cs.fanMu.Lock()
		cs.mu.Lock()
		cs.cursor = cur
		if seq > cs.lastSeq {
			cs.lastSeq = seq
		}
		ws := cs.watchers
		cs.mu.Unlock()
		if bad != nil {
			cs.fanMu.Unlock()
			h.log.Warn().Err(bad).Str(logging.ConfID, cs.confID).Uint64("stream_seq", cur).Msg("events stream: bad event skipped")
			continue
		}
		cs.broadcast(ws, seq, msg, m.Header)
		cs.fanMu.Unlock()
	}
}

// settle decides, after a drain, whether to drain again (a doorbell rang
// meanwhile, or an announced event is not stored yet: after pause) or to
// stop fetching (the drain failed, the subscription closed, or the event
// announced never got stored: a publish the stream refused).
func (cs *confSub) settle(failed bool, waits *int) (again bool, pause time.Duration) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch {
	case failed || cs.closed:
	case cs.bell:
		cs.bell = false
		return true, 0
	case cs.want > cs.lastSeq:
		if *waits < len(storeWait) {
			pause = storeWait[*waits]
			*waits++
			// The event was stored (only stored events are republished),
			// but a replica answering direct gets may lag: ask the leader.
			cs.leader = cs.leader || *waits > 2
			return true, pause
		}
		cs.want = cs.lastSeq // give up: the next event starts a repair
	}
	if !failed {
		cs.leader = false
	}
	cs.fetching = false
	return false, 0
}

// broadcast offers one encoded event to every watcher: the same bytes for
// all, one queue entry each. hdr is the stored event's headers, whose
// trace context makes the fan-out a span of the callback's trace.
func (cs *confSub) broadcast(ws []*watch, seq uint64, msg []byte, hdr nats.Header) {
	sp := cs.h.tr.Fanout(hdr, cs.confID, seq, len(ws))
	for _, w := range ws {
		w.offer(seq, msg)
	}
	sp.End()
}
