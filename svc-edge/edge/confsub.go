package edge

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"confapplet/pkg/logging"

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
// doorbell announced: core subscribers may see a publish before the stream
// has stored it, and a publish the stream refused never appears.
var storeWait = []time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond}

// init sets the cursor to the last stored event, once. Every event stored
// after it rings the doorbell (the subscription exists already, and NATS
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
// seq already fanned out (a platform retry the stream de-duplicated) costs
// nothing; anything else starts a fetch.
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

// fetch reads every event stored after the cursor and fans each out, until
// nothing announced is left to read. When a doorbell announced an event
// that is not stored yet, it looks again a few times (storeWait) before it
// gives up; after a failed read it tries again a second later.
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

// drain reads and fans out, in order, the events stored after the cursor:
// until the stream has no more, or, once the event announced last was read
// by the fast path, until nothing more is announced. It returns the read
// error that stopped it, nil otherwise.
func (cs *confSub) drain() error {
	h := cs.h
	cs.mu.Lock()
	cur := cs.cursor
	cs.mu.Unlock()
	readAnnounced := false // the last event came from the fast path
	for {
		cs.mu.Lock()
		expect, announced := cs.lastSeq+1, cs.want
		cs.mu.Unlock()
		if readAnnounced && announced < expect {
			// Every event announced is fanned out; one announced later, or
			// a doorbell without seq, rings again.
			return nil
		}
		m, seq, msg, err := cs.read(cur, expect, announced == expect)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			h.metrics.fetchFailures.Inc()
			h.log.Warn().Err(err).Str(logging.ConfID, cs.confID).Msg("events stream: read")
			return err
		}
		readAnnounced = msg != nil
		cur = m.Sequence
		h.metrics.eventsIn.Inc()
		h.metrics.observeLag(m.Time)
		var bad error
		if !readAnnounced {
			seq, msg, bad = encodeEvent(m.Data)
		}
		if bad == nil {
			cs.remember(seq, cur)
		}
		cs.mu.Lock()
		cs.cursor = cur
		if seq > cs.lastSeq {
			cs.lastSeq = seq
		}
		ws := cs.watchers
		cs.mu.Unlock()
		if bad != nil {
			h.log.Warn().Err(bad).Str(logging.ConfID, cs.confID).Uint64("stream_seq", cur).Msg("events stream: bad event skipped")
			continue
		}
		cs.broadcast(ws, seq, msg, m.Header)
	}
}

// read returns the first event stored after stream sequence cur. When the
// one event announced is the one expected, it tries the fast path first,
// which also returns the event's seq and notification (msg is nil when the
// event came the ordinary way and still needs decoding).
func (cs *confSub) read(cur, expect uint64, announcedOne bool) (m *jetstream.RawStreamMsg, seq uint64, msg []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.timeout)
	defer cancel()
	if announcedOne {
		if m, seq, msg = cs.h.lastIfAnnounced(ctx, cs.confID, expect, cur); m != nil {
			return m, seq, msg, nil
		}
	}
	m, err = cs.h.next(ctx, cs.confID, cur+1)
	return m, 0, nil, err
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
			return true, pause
		}
		cs.want = cs.lastSeq // never stored: a refused publish
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
