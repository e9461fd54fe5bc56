package edge

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
	"confapplet/svc-edge/internal/recovery"

	"github.com/nats-io/nats.go/jetstream"
)

// watch is one session's interest in one conference. What it delivers is
// decided by the recovery package: every event once, in seq order, with
// OnConfEventsLost for seqs the stream no longer holds.
type watch struct {
	s      *session
	confID string
	cs     *confSub // set by hub.add

	mu        sync.Mutex
	last      uint64 // last seq delivered
	replaying bool
	buf       recovery.Buffer // live events arriving while replaying
}

// staleRereads is how many times a replay reads the stream again, through
// its leader, when the live events it buffered begin past what it read,
// staleRereadWait apart, before the gap is reported lost (watch.replay).
const (
	staleRereads    = 5
	staleRereadWait = 100 * time.Millisecond
)

// maxReplayBuffer bounds the live events buffered for a watch during its
// replay; beyond it the replay simply runs again from where it stopped.
const maxReplayBuffer = 1024

// offer delivers a live event, or buffers it while the watch replays. A
// live event past the next one expected starts a replay through the
// stream leader instead of calling the gap lost at once: the read that
// placed this watch may have been answered by a replica that lagged.
func (w *watch) offer(seq uint64, msg []byte) {
	w.mu.Lock()
	if w.replaying {
		w.buf.Add(recovery.Event{Seq: seq, Msg: msg})
		w.mu.Unlock()
		return
	}
	gap, ok := recovery.Advance(w.last, seq)
	if ok && !gap.None() && w.cs != nil {
		w.replaying = true
		w.buf.Add(recovery.Event{Seq: seq, Msg: msg})
		w.mu.Unlock()
		// In the session's worker, like every replay: ordered with its
		// requests, under its context. Enqueued with w.mu released, as
		// the session's lock is never taken under a watch's.
		enqueueTask(w.s, w.repair)
		return
	}
	if ok {
		w.send(gap, seq, msg)
	}
	w.mu.Unlock()
}

// enqueueTask runs f in s's worker. It is set in init because the method
// table (rpc.go) reaches offer, and a direct call of enqueue from here
// would make the table's initialization depend on itself.
var enqueueTask func(s *session, f func())

func init() {
	enqueueTask = func(s *session, f func()) { s.enqueue(job{task: f}) }
}

// repair replays w through the stream leader after a live event skipped
// some; a failed read closes the connection, so the client resumes rather
// than keeps a silent gap. Worker only.
func (w *watch) repair() {
	ctx := w.s.context()
	if err := w.cs.h.replayVia(ctx, w, nil, true); err != nil && ctx.Err() == nil {
		w.s.logError().Err(err).Str(logging.ConfID, w.confID).Msg("replay failed")
		w.s.t.Close(contract.CloseServerFailure)
	}
}

// send reports gap (if any), then queues event seq, the next to deliver.
func (w *watch) send(gap recovery.Gap, seq uint64, msg []byte) {
	if !gap.None() {
		w.lost(gap)
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

func (w *watch) lost(g recovery.Gap) {
	w.s.srv.metrics.eventsLost.Inc()
	w.s.logWarn().Str(logging.ConfID, w.confID).Uint64("from", g.From).Uint64("to", g.To).Msg("events no longer stored")
	w.s.notify(contract.NotifyEventsLost, lostParams{ConfID: w.confID, From: g.From, To: g.To})
}

// replay delivers, from the stream, every event after w.last, then merges
// the live events buffered meanwhile and switches w to live delivery.
// before, if not nil, is called once with the last seq stored, before any
// event is queued.
func (h *hub) replay(ctx context.Context, w *watch, before func(last uint64)) error {
	return h.replayVia(ctx, w, before, false)
}

// replayVia is replay, reading through the stream leader from the start
// when leader is set (otherwise only once a gap shows).
func (h *hub) replayVia(ctx context.Context, w *watch, before func(last uint64), leader bool) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	rereads := 0
	for {
		end, lastSeq, err := h.lastStoredVia(ctx, w.confID, leader)
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
			if from, err = h.replayStored(ctx, w, from, end, leader); err != nil {
				return err
			}
		}
		w.mu.Lock()
		w.last = from
		buf, overflowed := w.buf.Take()
		if overflowed { // live events were dropped: read them from the stream
			w.mu.Unlock()
			continue
		}
		merged, _ := recovery.Merge(from, buf)
		if len(merged) > 0 && !merged[0].Gap.None() && rereads < staleRereads {
			// The live events begin past what the stream read gave: the
			// replica that answered (direct gets may be served by any, and
			// one that rejoined after a partition can lag for seconds) may
			// not have the newest events yet. Read again, through the
			// leader, before calling the gap lost.
			rereads, leader = rereads+1, true
			for _, e := range buf {
				w.buf.Add(e)
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(staleRereadWait):
			}
			continue
		}
		for _, d := range merged {
			w.send(d.Gap, d.Event.Seq, d.Event.Msg)
		}
		w.replaying = false
		w.mu.Unlock()
		return nil
	}
}

// replayStored delivers the events of w's conference stored after event
// from, up to stream sequence end, and returns the last seq delivered; it
// reads through the stream leader when leader is set.
func (h *hub) replayStored(ctx context.Context, w *watch, from, end uint64, leader bool) (uint64, error) {
	for sseq := w.cs.position(from); sseq <= end; {
		m, err := h.nextVia(ctx, w.confID, sseq, leader)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return from, err
		}
		sseq = m.Sequence + 1
		seq, msg, err := encodeEvent(m.Data)
		if err != nil {
			continue
		}
		w.cs.remember(seq, m.Sequence)
		gap, ok := recovery.Advance(from, seq)
		if !ok {
			continue
		}
		if !gap.None() {
			w.lost(gap)
		}
		from = seq
		h.metrics.replayed.Inc()
		if w.s.t.Write(msg) == nil {
			h.metrics.eventsOut.Inc()
		}
	}
	return from, nil
}

// watch starts watching confID from since (the last seq the client has),
// once per session and conference, and reports whether it did and its
// replay went through. notify sends OnConfWatch first (automatic watches;
// WatchConf answers with its result instead). It runs in the session's
// worker, so it is ordered with the session's requests.
func (s *session) watch(confID string, since uint64, notify bool) bool {
	s.mu.Lock()
	if s.closed || s.watches[confID] != nil {
		s.mu.Unlock()
		return false
	}
	w := &watch{s: s, confID: confID, last: since, replaying: true, buf: recovery.Buffer{Max: maxReplayBuffer}}
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
		return false
	}
	if ctx.Err() != nil { // closed while subscribing: close() may have missed w
		h.remove(w)
		return false
	}
	var before func(uint64)
	if notify {
		before = func(last uint64) { s.notify(contract.NotifyWatch, contract.WatchConfResult{ConfID: confID, Seq: last}) }
	}
	if err := h.replay(ctx, w, before); err != nil {
		if ctx.Err() != nil {
			return false
		}
		// Never leave a silent gap: the client reconnects and resumes.
		s.logError().Err(err).Str(logging.ConfID, confID).Msg("replay failed")
		s.t.Close(contract.CloseServerFailure)
		return false
	}
	return true
}

// watchEnded is watch for a conference that has ended: its stored events
// after since are replayed (up to OnConfDel), then the watch ends, as
// nothing more will be stored and a confid the platform reuses must not
// reach this client. A watch that was running already is left alone: it
// delivers the conference's last events live.
func (s *session) watchEnded(confID string, since uint64, notify bool) {
	if s.watch(confID, since, notify) {
		s.unwatch(confID)
	}
}

// endedWatch reads AuthorizeWatch's result: whether the conference has
// ended (contract.WatchAuthorization; null for a live one).
func endedWatch(res []byte) bool {
	var a contract.WatchAuthorization
	return len(res) > 0 && json.Unmarshal(res, &a) == nil && a.Ended
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
