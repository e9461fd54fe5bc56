package edge

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/jsonrpc"
	"confapplet/pkg/logging"

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
	timeout time.Duration // bound of one replay
	bells   chan *nats.Msg
	done    chan struct{}

	mu    sync.Mutex
	confs map[string]*confSub

	streamMu sync.Mutex
	stream   jetstream.Stream

	reads     atomic.Int64 // events read from the stream (tests)
	fastReads atomic.Int64 // of which by lastIf (tests)
}

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

// watch is one session's interest in one conference.
type watch struct {
	s      *session
	confID string
	cs     *confSub // set by hub.add

	mu        sync.Mutex
	last      uint64 // last seq delivered
	replaying bool
	buf       []pendingEvent
	overflow  bool
}

type pendingEvent struct {
	seq uint64
	msg []byte
}

// maxReplayBuffer bounds the live events buffered for a watch during its
// replay; beyond it the replay simply runs again from where it stopped.
const maxReplayBuffer = 1024

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

// events returns the stream handle (the edge never creates the stream).
func (h *hub) events(ctx context.Context) (jetstream.Stream, error) {
	h.streamMu.Lock()
	defer h.streamMu.Unlock()
	if h.stream != nil {
		return h.stream, nil
	}
	s, err := h.js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return nil, err
	}
	h.stream = s
	return s, nil
}

// lastStored returns the last event stored for confID: its stream sequence
// and event seq, zeros when there is none (or no stream yet).
func (h *hub) lastStored(ctx context.Context, confID string) (streamSeq, seq uint64, err error) {
	st, err := h.events(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	m, err := st.GetLastMsgForSubject(ctx, contract.EventsSubject(confID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	var ev struct {
		Seq uint64 `json:"seq"`
	}
	_ = json.Unmarshal(m.Data, &ev)
	return m.Sequence, ev.Seq, nil
}

// lastSeq is the last event seq stored for confID.
func (h *hub) lastSeq(ctx context.Context, confID string) (uint64, error) {
	_, seq, err := h.lastStored(ctx, confID)
	return seq, err
}

// next reads the first event of confID stored at stream sequence ≥ from.
func (h *hub) next(ctx context.Context, confID string, from uint64) (*jetstream.RawStreamMsg, error) {
	h.reads.Add(1)
	st, err := h.events(ctx)
	if err != nil {
		return nil, err
	}
	return st.GetMsg(ctx, from, jetstream.WithGetMsgSubject(contract.EventsSubject(confID)))
}

// headerEventSeq is the header svc-callback sets on every stored event: its
// per-conference seq.
const headerEventSeq = "Confapplet-Event-Seq"

// lastIf is the live fetch's fast path, for the common case of one new
// event announced: the last event stored for confID (an indexed lookup,
// where next scans the stream from a position), if it is event seq, stored
// after stream sequence after, with its notification; else nil (the caller
// reads with next).
func (h *hub) lastIf(ctx context.Context, confID string, seq, after uint64) (*jetstream.RawStreamMsg, uint64, []byte) {
	st, err := h.events(ctx)
	if err != nil {
		return nil, 0, nil
	}
	m, err := st.GetLastMsgForSubject(ctx, contract.EventsSubject(confID))
	if err != nil || m.Sequence <= after {
		return nil, 0, nil
	}
	if v := m.Header.Get(headerEventSeq); v != "" && v != strconv.FormatUint(seq, 10) {
		return nil, 0, nil
	}
	got, msg, err := encodeEvent(m.Data)
	if err != nil || got != seq {
		return nil, 0, nil
	}
	h.reads.Add(1)
	h.fastReads.Add(1)
	return m, got, msg
}

// doorbellSeq is the event seq a doorbell announces (0 if unreadable): the
// header, else the event's seq field.
func doorbellSeq(m *nats.Msg) uint64 {
	if v := m.Header.Get(headerEventSeq); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n
		}
	}
	var ev struct {
		Seq uint64 `json:"seq"`
	}
	_ = json.Unmarshal(m.Data, &ev)
	return ev.Seq
}

// encodeEvent decodes a stored event and encodes its notification.
func encodeEvent(data []byte) (seq uint64, msg []byte, err error) {
	var ev contract.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return 0, nil, err
	}
	if ev.Seq == 0 {
		return 0, nil, errors.New("event without seq")
	}
	method, params := ev.Notification()
	p, err := json.Marshal(params)
	if err != nil {
		return 0, nil, err
	}
	return ev.Seq, jsonrpc.AppendNotification(make([]byte, 0, len(p)+48+len(method)), method, p), nil
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

// fetch reads every event stored after the cursor and fans each out. When
// a doorbell announced an event that is not stored yet, it looks again a
// few times (storeWait) before it gives up.
func (cs *confSub) fetch() {
	h := cs.h
	wait := 0
	for {
		cs.mu.Lock()
		cur := cs.cursor
		cs.mu.Unlock()
		retry := false
		hit := false // the last event came from the fast path
		for {
			cs.mu.Lock()
			expect := cs.lastSeq + 1
			fast := cs.want == expect
			more := cs.want > cs.lastSeq
			cs.mu.Unlock()
			if hit && !more {
				// Every event announced is fanned out; one announced
				// later, or a doorbell without seq, rings again.
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
			var m *jetstream.RawStreamMsg
			var seq uint64
			var msg []byte
			var err error
			if fast {
				m, seq, msg = h.lastIf(ctx, cs.confID, expect, cur)
			}
			hit = m != nil
			if !hit {
				m, err = h.next(ctx, cs.confID, cur+1)
			}
			cancel()
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				h.metrics.fetchFailures.Inc()
				h.log.Warn().Err(err).Str(logging.ConfID, cs.confID).Msg("events stream: read")
				retry = true
				break
			}
			cur = m.Sequence
			h.metrics.eventsIn.Inc()
			if !hit {
				seq, msg, err = encodeEvent(m.Data)
			}
			if err == nil {
				cs.remember(seq, cur)
			}
			cs.mu.Lock()
			cs.cursor = cur
			if seq > cs.lastSeq {
				cs.lastSeq = seq
			}
			ws := cs.watchers
			cs.mu.Unlock()
			if err != nil {
				h.log.Warn().Err(err).Str(logging.ConfID, cs.confID).Uint64("stream_seq", cur).Msg("events stream: bad event skipped")
				continue
			}
			cs.broadcast(ws, seq, msg)
		}
		cs.mu.Lock()
		if cs.bell && !cs.closed && !retry {
			cs.bell = false
			cs.mu.Unlock()
			continue
		}
		if !retry && !cs.closed && cs.want > cs.lastSeq {
			if wait < len(storeWait) {
				d := storeWait[wait]
				wait++
				cs.mu.Unlock()
				time.Sleep(d)
				continue
			}
			cs.want = cs.lastSeq // never stored: a refused publish
		}
		cs.fetching = false
		cs.mu.Unlock()
		if retry {
			time.AfterFunc(time.Second, cs.ring)
		}
		return
	}
}

// broadcast offers one encoded event to every watcher: the same bytes for
// all, one queue entry each.
func (cs *confSub) broadcast(ws []*watch, seq uint64, msg []byte) {
	for _, w := range ws {
		w.offer(seq, msg)
	}
}

// offer delivers a live event, or buffers it while the watch replays.
func (w *watch) offer(seq uint64, msg []byte) {
	w.mu.Lock()
	if w.replaying {
		if len(w.buf) < maxReplayBuffer {
			w.buf = append(w.buf, pendingEvent{seq, msg})
		} else {
			w.overflow = true
		}
		w.mu.Unlock()
		return
	}
	w.deliverLocked(seq, msg)
	w.mu.Unlock()
}

func (w *watch) deliverLocked(seq uint64, msg []byte) {
	if seq <= w.last {
		return
	}
	if seq > w.last+1 {
		w.lost(w.last+1, seq-1)
	}
	w.last = seq
	if w.s.t.Write(msg) == nil {
		w.s.srv.metrics.eventsOut.Inc()
	}
}

// lostParams are OnConfEventsLost's params.
type lostParams struct {
	ConfID string `json:"confid"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
}

func (w *watch) lost(from, to uint64) {
	w.s.srv.metrics.eventsLost.Inc()
	w.s.logWarn().Str(logging.ConfID, w.confID).Uint64("from", from).Uint64("to", to).Msg("events no longer stored")
	w.s.notify(contract.NotifyGap, lostParams{ConfID: w.confID, From: from, To: to})
}

// replay delivers, from the stream, every event after w.last, then merges
// the live events buffered meanwhile and switches w to live delivery.
// before, if not nil, is called once with the last seq stored, before any
// event is queued.
func (h *hub) replay(ctx context.Context, w *watch, before func(last uint64)) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	for {
		end, lastSeq, err := h.lastStored(ctx, w.confID)
		if err != nil {
			return err
		}
		if before != nil {
			before(lastSeq)
			before = nil
		}
		w.mu.Lock()
		from := w.last
		w.mu.Unlock()
		if lastSeq > from {
			for sseq := w.cs.position(from); sseq <= end; {
				m, err := h.next(ctx, w.confID, sseq)
				if errors.Is(err, jetstream.ErrMsgNotFound) {
					break
				}
				if err != nil {
					return err
				}
				sseq = m.Sequence + 1
				seq, msg, err := encodeEvent(m.Data)
				if err != nil {
					continue
				}
				w.cs.remember(seq, m.Sequence)
				if seq <= from {
					continue
				}
				if seq > from+1 {
					w.lost(from+1, seq-1)
				}
				from = seq
				h.metrics.replayed.Inc()
				if w.s.t.Write(msg) == nil {
					h.metrics.eventsOut.Inc()
				}
			}
		}
		w.mu.Lock()
		w.last = from
		buf := w.buf
		w.buf = nil
		if w.overflow {
			w.overflow = false
			w.mu.Unlock()
			continue
		}
		for _, p := range buf {
			w.deliverLocked(p.seq, p.msg)
		}
		w.replaying = false
		w.mu.Unlock()
		return nil
	}
}

// watch starts watching confID from since (the last seq the client has),
// once per session and conference. notify sends OnConfWatch first (automatic
// watches; WatchConf answers with its result instead). It runs in the
// session's worker, so it is ordered with the session's requests.
func (s *session) watch(confID string, since uint64, notify bool) {
	s.mu.Lock()
	if s.closed || s.watches[confID] != nil {
		s.mu.Unlock()
		return
	}
	w := &watch{s: s, confID: confID, last: since, replaying: true}
	if s.watches == nil {
		s.watches = map[string]*watch{}
	}
	s.watches[confID] = w
	s.mu.Unlock()
	h := s.srv.hub
	ctx := s.context()
	if err := h.add(ctx, w); err != nil {
		s.logError().Err(err).Str(logging.ConfID, confID).Msg("subscribe")
		s.unwatch(confID)
		return
	}
	if ctx.Err() != nil { // closed while subscribing: close() may have missed w
		h.remove(w)
		return
	}
	var before func(uint64)
	if notify {
		before = func(last uint64) { s.notify(contract.NotifyWatch, contract.WatchConfResult{ConfID: confID, Seq: last}) }
	}
	if err := h.replay(ctx, w, before); err != nil {
		if ctx.Err() != nil {
			return
		}
		// Never leave a silent gap: the client reconnects and resumes.
		s.logError().Err(err).Str(logging.ConfID, confID).Msg("replay failed")
		s.t.Close(contract.CloseServerFailure)
	}
}

// unwatch stops watching confID (no error when not watching).
func (s *session) unwatch(confID string) {
	s.mu.Lock()
	w := s.watches[confID]
	delete(s.watches, confID)
	s.mu.Unlock()
	if w != nil {
		s.srv.hub.remove(w)
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
