package eventlog

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

// Headers set on every stored event, beside Nats-Msg-Id.
const (
	// HeaderKey is the event's identity key (Identity.Key).
	HeaderKey = "Confapplet-Event-Key"
	// HeaderSeq is the event's per-conference sequence (Event.Seq).
	HeaderSeq = "Confapplet-Event-Seq"
)

// ErrUnavailable wraps every failure to store an event.
var ErrUnavailable = errors.New("event store unavailable")

// Config tunes a Log.
type Config struct {
	Stream streams.EventsConfig // the stream Ensure creates or updates
	// CacheSize is how many conferences' latest events are kept in memory
	// (0: none, every append reads the latest first); CacheTTL how long
	// one is trusted (0: for ever).
	CacheSize int
	CacheTTL  time.Duration
	// OnConflict counts a wrong-last-sequence retry, OnRead a read of a
	// conference's latest event (both optional: metrics).
	OnConflict, OnRead func()
}

// Identity is what makes an event the same event when the platform
// repeats its callback.
type Identity struct {
	Key string // HeaderKey: equal for the same event
	// MsgID is the Nats-Msg-Id of the event when prevSeq is the seq of the
	// conference's latest stored event (Key alone, or Key and prevSeq for
	// an event that may legitimately happen twice).
	MsgID func(prevSeq uint64) string
}

// Log appends events to the events stream with dense per-conference
// sequences: the one writer of the rule (see the package comment).
type Log struct {
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

	// BeforePublish, when set (tests), runs between reading the last event
	// and publishing: where another instance may interleave.
	BeforePublish func(ev *contract.Event)

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
func (p *Log) lockConf(ctx context.Context, confID string) (func(), error) {
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

// Appended is what happened to one event.
type Appended struct {
	Duplicate bool
	Seq       uint64 // per-conference seq (0 when a duplicate's is unknown)
	StreamSeq uint64
	Attempts  int
}

// New returns the log of the events stream on nc (js on nc).
func New(nc *nats.Conn, js jetstream.JetStream, cfg Config) *Log {
	return &Log{nc: nc, js: js, cfg: cfg.Stream, conflicts: cfg.OnConflict, reads: cfg.OnRead,
		cache: newLastCache(cfg.CacheSize, cfg.CacheTTL)}
}

// CacheLen is the number of conferences whose latest event is kept; -1
// when the cache is off (tests, metrics).
func (p *Log) CacheLen() int {
	if p.cache == nil {
		return -1
	}
	return p.cache.len()
}

// Ensure returns the events stream, creating or updating it once.
func (p *Log) Ensure(ctx context.Context) (jetstream.Stream, error) {
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
func (p *Log) forget() {
	p.mu.Lock()
	p.stream = nil
	p.mu.Unlock()
	// A recreated stream restarts its sequences: no belief survives.
	p.cache.clear()
}

// Append stores ev on its conference's subject, with ev.Seq set to the
// conference's next seq, and returns once JetStream has acknowledged it (or
// recognised it as a duplicate).
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
func (p *Log) Append(ctx context.Context, ev *contract.Event, id Identity) (Appended, error) {
	if !p.nc.IsConnected() {
		return Appended{}, fmt.Errorf("%w: not connected to NATS (%s)", ErrUnavailable, p.nc.Status())
	}
	unlock, err := p.lockConf(ctx, ev.ConfID)
	if err != nil {
		return Appended{}, fmt.Errorf("%w: waiting for conference %s: %v", ErrUnavailable, ev.ConfID, err)
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
		stream, err := p.Ensure(ctx)
		if err != nil {
			return Appended{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if !cached {
			if last, err = p.readLast(ctx, stream, ev.ConfID); err != nil {
				return Appended{}, err
			}
			if last.streamSeq != 0 && last.key == id.Key {
				p.cache.put(ev.ConfID, last)
				return Appended{Duplicate: true, Seq: last.seq, StreamSeq: last.streamSeq, Attempts: attempt}, nil
			}
		}

		ev.Seq = last.seq + 1
		data, err := json.Marshal(ev)
		if err != nil {
			return Appended{}, err
		}
		if p.BeforePublish != nil {
			p.BeforePublish(ev)
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
				return Appended{}, fmt.Errorf("%w: %v after %d attempts", ErrUnavailable, err, attempt)
			}
			continue
		}
		if err != nil {
			// The publish may or may not have been stored (a timeout
			// after the server stored it): forget what we believed.
			p.cache.drop(ev.ConfID)
			p.forgetIfGone(err)
			return Appended{}, fmt.Errorf("%w: publish on %s: %v", ErrUnavailable, subj, err)
		}
		if ack.Duplicate {
			// Stored before (Nats-Msg-Id within the window); the latest
			// event is still last (JetStream checked the expected
			// sequence; if it had not, the next publish will).
			p.cache.put(ev.ConfID, last)
			return Appended{Duplicate: true, StreamSeq: ack.Sequence, Attempts: attempt}, nil
		}
		p.cache.put(ev.ConfID, lastEvent{seq: ev.Seq, streamSeq: ack.Sequence, key: id.Key})
		return Appended{Seq: ev.Seq, StreamSeq: ack.Sequence, Attempts: attempt}, nil
	}
}

// readLast reads the latest event stored for confID (zero when none).
func (p *Log) readLast(ctx context.Context, stream jetstream.Stream, confID string) (lastEvent, error) {
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
		return lastEvent{}, fmt.Errorf("%w: last event of %s: %v", ErrUnavailable, subj, err)
	}
	last := lastEvent{streamSeq: m.Sequence, key: m.Header.Get(HeaderKey)}
	if last.seq, err = StoredSeq(m); err != nil {
		p.cache.drop(confID)
		return lastEvent{}, fmt.Errorf("%w: last event of %s (stream seq %d): %v", ErrUnavailable, subj, m.Sequence, err)
	}
	return last, nil
}

// publishAfter publishes data, event seq, on the condition that last is
// still the subject's latest stored event.
func (p *Log) publishAfter(ctx context.Context, subj string, data []byte, seq uint64, id Identity, last lastEvent) (*jetstream.PubAck, error) {
	msg := nats.NewMsg(subj)
	msg.Data = data
	msg.Header.Set(HeaderKey, id.Key)
	msg.Header.Set(HeaderSeq, strconv.FormatUint(seq, 10))
	tracing.Inject(ctx, msg.Header) // the edges' fan-out joins the callback's trace
	return p.js.PublishMsg(ctx, msg,
		jetstream.WithMsgID(id.MsgID(last.seq)),
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

// StoredSeq reads the per-conference sequence of a stored event: the
// header, else the event's seq field.
func StoredSeq(m *jetstream.RawStreamMsg) (uint64, error) {
	if v := m.Header.Get(HeaderSeq); v != "" {
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

func (p *Log) forgetIfGone(err error) {
	var jsErr jetstream.JetStreamError
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) ||
		(errors.As(err, &jsErr) && jsErr.APIError() != nil && jsErr.APIError().ErrorCode == jetstream.JSErrCodeStreamNotFound) {
		p.forget()
	}
}

// Reachable reports whether the stream answers (for readiness).
func (p *Log) Reachable(ctx context.Context) error {
	if !p.nc.IsConnected() {
		return fmt.Errorf("NATS %s", p.nc.Status())
	}
	s, err := p.Ensure(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Info(ctx); err != nil {
		p.forgetIfGone(err)
		return err
	}
	return nil
}
