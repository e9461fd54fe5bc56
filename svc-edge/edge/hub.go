package edge

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/streams"
	"confapplet/pkg/tracing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The hub fans conference events out to the sessions that watch them.
//
// One core NATS subscription per conference per edge process, shared by all
// its watchers and reference-counted (released with the last watcher), on
// the subject where the stream CONF_EVENTS republishes each event it stored
// (streams.LiveSubject): only stored events, never a publish JetStream
// refused or de-duplicated. An event whose predecessor in the stream is the
// last one fanned out goes to the watchers as it comes; after a missed
// one (a stream leader change, a reconnect) the events are read from the
// stream from a per-conference cursor (direct get, next message on the
// subject; through the leader when a replica may lag). Each stored event
// is decoded and encoded into its notification ONCE, and the same bytes are
// queued to every watcher.
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

	leaderSub *nats.Subscription

	reads atomic.Int64 // events read from the stream (tests)
}

func newHub(nc *nats.Conn, js jetstream.JetStream, log zerolog.Logger, m *metrics, replayTimeout time.Duration) *hub {
	h := &hub{nc: nc, js: js, log: log, metrics: m, timeout: replayTimeout,
		bells: make(chan *nats.Msg, 8192), done: make(chan struct{}), confs: map[string]*confSub{}}
	// A new stream leader republishes from where it took over: events the
	// old one stored but had not republished yet are read from the stream.
	// Once at once, and once more a second later, when a leader that took
	// over before it had applied everything has caught up.
	sub, err := nc.Subscribe(leaderElectedSubject, func(*nats.Msg) {
		h.resync()
		time.AfterFunc(time.Second, h.resync)
	})
	if err != nil {
		log.Warn().Err(err).Msg("subscribe to stream leader changes")
	}
	h.leaderSub = sub
	go h.dispatch()
	return h
}

// leaderElectedSubject is JetStream's advisory of a new leader of the
// events stream.
const leaderElectedSubject = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED." + contract.EventsStream

// dispatch hands each republished event to its conference: one goroutine
// per edge for every conference subscription (they all share the channel).
func (h *hub) dispatch() {
	for {
		select {
		case <-h.done:
			return
		case m := <-h.bells:
			id := streams.ConfIDFromLiveSubject(m.Subject)
			h.mu.Lock()
			cs := h.confs[id]
			h.mu.Unlock()
			if cs != nil {
				cs.live(m)
			}
		}
	}
}

func (h *hub) close() {
	if h.leaderSub != nil {
		_ = h.leaderSub.Unsubscribe()
	}
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
		cs = &confSub{h: h, confID: w.confID, subj: streams.LiveSubject(w.confID)}
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

// resync reads every conference's events stored after its cursor, through
// the stream leader.
func (h *hub) resync() {
	h.mu.Lock()
	all := make([]*confSub, 0, len(h.confs))
	for _, cs := range h.confs {
		all = append(all, cs)
	}
	h.mu.Unlock()
	for _, cs := range all {
		cs.resync()
	}
}

// subscriptions is the number of conferences subscribed (tests, metrics).
func (h *hub) subscriptions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.confs)
}
