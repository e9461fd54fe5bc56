package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/streams"
	"confapplet/pkg/tracing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers svc-callback sets on every stored event, beside Nats-Msg-Id.
const (
	// HeaderEventKey is the event's identity key (identity.Key).
	HeaderEventKey = "Confapplet-Event-Key"
	// HeaderEventSeq is the event's per-conference sequence (Event.Seq).
	HeaderEventSeq = "Confapplet-Event-Seq"
)

// errUnavailable wraps every failure to store an event (→ 503).
var errUnavailable = errors.New("event store unavailable")

// publisher stores events in the events stream with dense per-conference
// sequences. See DESIGN in CONFIG.md ("Sequences and duplicates").
type publisher struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg streams.EventsConfig

	mu     sync.Mutex
	stream jetstream.Stream // nil until ensured (again)

	conflicts func() // counts a wrong-last-sequence retry
	reads     func() // counts a read of a subject's last message

	// cache holds, per conference, the latest event this process stored
	// or read (nil: disabled). It is only ever updated under the
	// conference's lock (lockConf).
	cache *lastCache

	// beforePublish, when set (tests), runs between reading the last event
	// and publishing: where another instance may interleave.
	beforePublish func(ev *contract.Event)

	// confs serialises the publishes of one conference inside this
	// process, so optimistic-concurrency conflicts only happen between
	// instances (without it, N concurrent callbacks of one conference
	// would cost O(N²) round trips).
	confsMu sync.Mutex
	confs   map[string]*confLock
}

type confLock struct {
	ch   chan struct{} // a 1-slot semaphore, so waiting honours ctx
	refs int
}

// lockConf waits for the conference's turn; the returned func releases it.
func (p *publisher) lockConf(ctx context.Context, confID string) (func(), error) {
	p.confsMu.Lock()
	if p.confs == nil {
		p.confs = map[string]*confLock{}
	}
	l := p.confs[confID]
	if l == nil {
		l = &confLock{ch: make(chan struct{}, 1)}
		p.confs[confID] = l
	}
	l.refs++
	p.confsMu.Unlock()
	drop := func() {
		p.confsMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(p.confs, confID)
		}
		p.confsMu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// published is what happened to one event.
type published struct {
	Duplicate bool
	Seq       uint64 // per-conference seq (0 when a duplicate's is unknown)
	StreamSeq uint64
	Attempts  int
}

// ensure returns the events stream, creating or updating it once.
func (p *publisher) ensure(ctx context.Context) (jetstream.Stream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream != nil {
		return p.stream, nil
	}
	s, err := streams.EnsureEvents(ctx, p.js, p.cfg)
	if err != nil {
		return nil, err
	}
	p.stream = s
	return s, nil
}

// forget drops the cached stream so the next callback ensures it again
// (after the stream was deleted or NATS came back without it).
func (p *publisher) forget() {
	p.mu.Lock()
	p.stream = nil
	p.mu.Unlock()
	// A recreated stream restarts its sequences: no belief survives.
	p.cache.clear()
}

// publish stores ev on its conference's subject and returns once JetStream
// has acknowledged it (or recognised it as a duplicate).
//
// Sequencing: take the conference's latest stored event — from the
// in-process cache (lastCache) when this process stored or read it
// recently, else by reading the subject's last stored message (a direct
// get) — publish ev with its Seq+1 and Nats-Expected-Last-Subject-Sequence =
// its stream sequence (0 if none). If another instance stored an event in
// between (or the cached belief is otherwise stale), JetStream refuses with
// "wrong last sequence" and we read again. So on the steady path a callback
// costs one round trip (the publish), and the read happens only on a cache
// miss or a conflict. Nats-Msg-Id makes a platform retry a duplicate:
// JetStream acks it with the first copy's stream sequence and stores
// nothing. Should the latest stored event already carry this event's key,
// the retry is answered as a duplicate without publishing; a cached key
// that matches is confirmed by a read first (the cache is never the only
// witness of a "duplicate" answer).
func (p *publisher) publish(ctx context.Context, ev *contract.Event, id identity) (published, error) {
	if !p.nc.IsConnected() {
		return published{}, fmt.Errorf("%w: not connected to NATS (%s)", errUnavailable, p.nc.Status())
	}
	unlock, err := p.lockConf(ctx, ev.ConfID)
	if err != nil {
		return published{}, fmt.Errorf("%w: waiting for conference %s: %v", errUnavailable, ev.ConfID, err)
	}
	defer unlock()
	subj := contract.EventsSubject(ev.ConfID)
	backoff := time.Millisecond

	// last is the belief the next publish is conditioned on; cached says it
	// came from the cache (not read in this call).
	last, cached := p.cache.get(ev.ConfID)
	if cached && last.key == id.Key {
		cached = false // a possible retry: confirm with a read
	}
	for attempt := 1; ; attempt++ {
		stream, err := p.ensure(ctx)
		if err != nil {
			return published{}, fmt.Errorf("%w: %v", errUnavailable, err)
		}
		if !cached {
			if last, err = p.readLast(ctx, stream, ev.ConfID); err != nil {
				return published{}, err
			}
			if last.streamSeq != 0 && last.key == id.Key {
				p.cache.put(ev.ConfID, last)
				return published{Duplicate: true, Seq: last.seq, StreamSeq: last.streamSeq, Attempts: attempt}, nil
			}
		}

		ev.Seq = last.seq + 1
		data, err := json.Marshal(ev)
		if err != nil {
			return published{}, err
		}
		if p.beforePublish != nil {
			p.beforePublish(ev)
		}
		ack, err := p.publishAfter(ctx, subj, data, ev.Seq, id, last)
		if isWrongLastSeq(err) {
			if p.conflicts != nil {
				p.conflicts()
			}
			p.cache.drop(ev.ConfID)
			if cached {
				// Our belief was stale (another instance stored an
				// event since, or the entry outlived its event): read
				// at once.
				cached = false
				continue
			}
			// Another instance got there between our read and our
			// publish: back off a little and read again.
			if err := waitAfterConflict(ctx, &backoff); err != nil {
				return published{}, fmt.Errorf("%w: %v after %d attempts", errUnavailable, err, attempt)
			}
			continue
		}
		if err != nil {
			// The publish may or may not have been stored (a timeout
			// after the server stored it): forget what we believed.
			p.cache.drop(ev.ConfID)
			p.forgetIfGone(err)
			return published{}, fmt.Errorf("%w: publish on %s: %v", errUnavailable, subj, err)
		}
		if ack.Duplicate {
			// Stored before (Nats-Msg-Id within the window); the latest
			// event is still last (JetStream checked the expected
			// sequence; if it had not, the next publish will).
			p.cache.put(ev.ConfID, last)
			return published{Duplicate: true, StreamSeq: ack.Sequence, Attempts: attempt}, nil
		}
		p.cache.put(ev.ConfID, lastEvent{seq: ev.Seq, streamSeq: ack.Sequence, key: id.Key})
		return published{Seq: ev.Seq, StreamSeq: ack.Sequence, Attempts: attempt}, nil
	}
}

// readLast reads the latest event stored for confID (zero when none).
func (p *publisher) readLast(ctx context.Context, stream jetstream.Stream, confID string) (lastEvent, error) {
	if p.reads != nil {
		p.reads()
	}
	subj := contract.EventsSubject(confID)
	m, err := stream.GetLastMsgForSubject(ctx, subj)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return lastEvent{}, nil
	case err != nil:
		p.cache.drop(confID)
		p.forgetIfGone(err)
		return lastEvent{}, fmt.Errorf("%w: last event of %s: %v", errUnavailable, subj, err)
	}
	last := lastEvent{streamSeq: m.Sequence, key: m.Header.Get(HeaderEventKey)}
	if last.seq, err = eventSeq(m); err != nil {
		p.cache.drop(confID)
		return lastEvent{}, fmt.Errorf("%w: last event of %s (stream seq %d): %v", errUnavailable, subj, m.Sequence, err)
	}
	return last, nil
}

// publishAfter publishes data, event seq, on the condition that last is
// still the subject's latest stored event.
func (p *publisher) publishAfter(ctx context.Context, subj string, data []byte, seq uint64, id identity, last lastEvent) (*jetstream.PubAck, error) {
	msg := nats.NewMsg(subj)
	msg.Data = data
	msg.Header.Set(HeaderEventKey, id.Key)
	msg.Header.Set(HeaderEventSeq, strconv.FormatUint(seq, 10))
	tracing.Inject(ctx, msg.Header) // the edges' fan-out joins the callback's trace
	return p.js.PublishMsg(ctx, msg,
		jetstream.WithMsgID(id.msgID(last.seq)),
		jetstream.WithExpectStream(contract.EventsStream),
		jetstream.WithExpectLastSequencePerSubject(last.streamSeq))
}

// waitAfterConflict waits about *backoff (with jitter, so contenders
// spread out) and doubles it up to 50 ms; it returns ctx's error if ctx
// ends first.
func waitAfterConflict(ctx context.Context, backoff *time.Duration) error {
	t := time.NewTimer(*backoff/2 + rand.N(*backoff))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	*backoff = min(*backoff*2, 50*time.Millisecond)
	return nil
}

// eventSeq reads the per-conference sequence of a stored event.
func eventSeq(m *jetstream.RawStreamMsg) (uint64, error) {
	if v := m.Header.Get(HeaderEventSeq); v != "" {
		return strconv.ParseUint(v, 10, 64)
	}
	var e struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return 0, err
	}
	if e.Seq == 0 {
		return 0, errors.New("stored event has no seq")
	}
	return e.Seq, nil
}

func isWrongLastSeq(err error) bool {
	var jsErr jetstream.JetStreamError
	if err == nil || !errors.As(err, &jsErr) || jsErr.APIError() == nil {
		return false
	}
	c := jsErr.APIError().ErrorCode
	return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

func (p *publisher) forgetIfGone(err error) {
	var jsErr jetstream.JetStreamError
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) ||
		(errors.As(err, &jsErr) && jsErr.APIError() != nil && jsErr.APIError().ErrorCode == jetstream.JSErrCodeStreamNotFound) {
		p.forget()
	}
}

// reachable reports whether the stream answers (for /readyz).
func (p *publisher) reachable(ctx context.Context) error {
	if !p.nc.IsConnected() {
		return fmt.Errorf("NATS %s", p.nc.Status())
	}
	s, err := p.ensure(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Info(ctx); err != nil {
		p.forgetIfGone(err)
		return err
	}
	return nil
}
