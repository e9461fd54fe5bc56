package edge

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/tracing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The hub fans conference events out to the sessions that watch them.
//
// One core NATS subscription per conference per edge process, shared by all
// its watchers and reference-counted (released with the last watcher). A
// message on conf.<id>.events is only a doorbell: the events themselves are
// read from the stream CONF_EVENTS (when the doorbell announces the one
// event after the last fanned out: the subject's last message, checked to
// be that event; else direct get, next message on the subject after a
// per-conference cursor), because core subscribers also see
// publishes that JetStream refused or de-duplicated (platform retries, lost
// optimistic-sequence races), which carry a seq that is not the stored one.
// Each stored event is decoded and encoded into its notification ONCE, and
// the same bytes are queued to every watcher.
//
// A watch is one (session, conference) pair. It remembers the last seq
// delivered, so no seq is delivered twice or out of order. While a watch
// replays history from the stream (WatchConf since, ?resume=), live events
// for it are buffered and merged after the replay. A hole in the sequence
// (events the stream no longer holds) is reported with OnConfEventsLost.
//
// Lock order: hub.mu → confSub.mu; watch.mu → transport (Write). No lock is
// held while reading the stream.
type hub struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	log     zerolog.Logger
	metrics *metrics
	timeout time.Duration     // bound of one replay
	tr      *tracing.Provider // nil: tracing off
	bells   chan *nats.Msg
	done    chan struct{}

	mu    sync.Mutex
	confs map[string]*confSub

	streamMu sync.Mutex
	stream   jetstream.Stream

	reads     atomic.Int64 // events read from the stream (tests)
	fastReads atomic.Int64 // of which by lastIfAnnounced (tests)
}

func newHub(nc *nats.Conn, js jetstream.JetStream, log zerolog.Logger, m *metrics, replayTimeout time.Duration) *hub {
	h := &hub{nc: nc, js: js, log: log, metrics: m, timeout: replayTimeout,
		bells: make(chan *nats.Msg, 8192), done: make(chan struct{}), confs: map[string]*confSub{}}
	go h.dispatch()
	return h
}

// dispatch rings the conference of each doorbell: one goroutine per edge for
// every conference subscription (they all share the channel).
func (h *hub) dispatch() {
	for {
		select {
		case <-h.done:
			return
		case m := <-h.bells:
			id := contract.ConfIDFromEventsSubject(m.Subject)
			h.mu.Lock()
			cs := h.confs[id]
			h.mu.Unlock()
			if cs != nil {
				cs.announce(doorbellSeq(m))
			}
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	for id, cs := range h.confs {
		_ = cs.sub.Unsubscribe()
		delete(h.confs, id)
	}
	h.mu.Unlock()
	select {
	case <-h.done:
	default:
		close(h.done)
	}
}

// add registers w (its replaying flag set) and subscribes its conference if
// this is the edge's first watcher of it.
func (h *hub) add(ctx context.Context, w *watch) error {
	h.mu.Lock()
	cs := h.confs[w.confID]
	if cs == nil {
		cs = &confSub{h: h, confID: w.confID, subj: contract.EventsSubject(w.confID)}
		sub, err := h.nc.ChanSubscribe(cs.subj, h.bells)
		if err != nil {
			h.mu.Unlock()
			return err
		}
		cs.sub = sub
		h.confs[w.confID] = cs
		h.metrics.confSubs.Inc()
	}
	cs.mu.Lock()
	cs.watchers = append(slices.Clone(cs.watchers), w)
	cs.mu.Unlock()
	w.cs = cs
	h.mu.Unlock()
	h.metrics.watches.Inc()
	cs.init(ctx)
	return nil
}

// remove unregisters w; the last watcher releases the subscription.
func (h *hub) remove(w *watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := h.confs[w.confID]
	if cs == nil {
		return
	}
	cs.mu.Lock()
	i := slices.Index(cs.watchers, w)
	if i < 0 {
		cs.mu.Unlock()
		return
	}
	cs.watchers = slices.Delete(slices.Clone(cs.watchers), i, i+1)
	empty := len(cs.watchers) == 0
	if empty {
		cs.closed = true
	}
	cs.mu.Unlock()
	h.metrics.watches.Dec()
	if empty {
		_ = cs.sub.Unsubscribe()
		delete(h.confs, w.confID)
		h.metrics.confSubs.Dec()
	}
}

// resync rings every conference.
func (h *hub) resync() {
	h.mu.Lock()
	all := make([]*confSub, 0, len(h.confs))
	for _, cs := range h.confs {
		all = append(all, cs)
	}
	h.mu.Unlock()
	for _, cs := range all {
		cs.ring()
	}
}

// subscriptions is the number of conferences subscribed (tests, metrics).
func (h *hub) subscriptions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.confs)
}
