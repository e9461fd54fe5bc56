package conference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"
	"confapplet/pkg/streams"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The state follows the platform through one durable pull consumer of the
// events stream, shared by every instance (Config.Consumer). Each instance
// spreads the messages it pulls over Config.EventWorkers workers by confid,
// so one conference's events are applied in stream order within an
// instance; across instances the revision-checked update keeps every
// change, and apply is written to give the same state whatever the order:
//
//   - member states only move forward (member.go): invited → ringing →
//     joined → left, or → failed; left and failed are final, so a quit
//     that arrives before its join leaves the member left, and a duplicate
//     changes nothing; only an explicit result 0 makes a member joined;
//   - mute and recording flags can go back and forth, so they apply only
//     when the event's seq is above the seq of the last one applied;
//   - "deleted" removes the record and its owner key;
//   - an event for a conference that has no record yet (its callback
//     overtook CreateConf's KV write) is redelivered a few times
//     (NakWithDelay) before it is dropped.

// Media notifytype values of the platform's mediaopturl callback.
const (
	mediaRecord     = 2
	mediaMute       = 4
	mediaStopRecord = 12
	mediaUnmute     = 14
)

type consumer struct {
	st     *store
	cfg    Config
	log    zerolog.Logger
	met    *metrics
	cons   jetstream.Consumer
	cc     jetstream.ConsumeContext
	shards []chan jetstream.Msg
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startConsumer(ctx context.Context, js jetstream.JetStream, st *store, cfg Config, log zerolog.Logger, met *metrics) (*consumer, error) {
	// Create the stream when it is missing; never update an existing one:
	// svc-callback owns its settings (MaxAge, Duplicates), and two services
	// each "updating" it to their own idea would flap.
	// Each step is retried with short attempts until ctx (the start
	// deadline) ends; a create that lost a race with another instance is
	// finished by binding what it created.
	err := startRetry(ctx, func(ctx context.Context) error {
		_, err := js.Stream(ctx, contract.EventsStream)
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		_, err = streams.EnsureEvents(ctx, js, streams.EventsConfig{Replicas: cfg.EventsReplicas})
		if err != nil && alreadyExists(err) {
			_, err = js.Stream(ctx, contract.EventsStream)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("events stream: %w", err)
	}
	var cons jetstream.Consumer
	err = startRetry(ctx, func(ctx context.Context) (err error) {
		cons, err = js.CreateOrUpdateConsumer(ctx, contract.EventsStream, jetstream.ConsumerConfig{
			Durable:       cfg.Consumer,
			Description:   "svc-conference: applies conference events to the state",
			FilterSubject: contract.EventsWildcard,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxAckPending: 4096,
			Replicas:      cfg.EventsReplicas,
		})
		if err != nil && alreadyExists(err) {
			cons, err = js.Consumer(ctx, contract.EventsStream, cfg.Consumer)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("events consumer %s: %w", cfg.Consumer, err)
	}
	c := &consumer{st: st, cfg: cfg, log: log, met: met, cons: cons, stop: make(chan struct{})}
	for range cfg.EventWorkers {
		ch := make(chan jetstream.Msg, 64)
		c.shards = append(c.shards, ch)
		c.wg.Add(1)
		go c.work(ch)
	}
	c.cc, err = cons.Consume(c.dispatch, jetstream.PullMaxMessages(256),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.log.Warn().Err(err).Msg("events consumer")
		}))
	if err != nil {
		close(c.stop)
		c.wg.Wait()
		return nil, fmt.Errorf("consume events: %w", err)
	}
	return c, nil
}

// dispatch hands msg to its conference's worker.
func (c *consumer) dispatch(msg jetstream.Msg) {
	h := fnv.New32a()
	h.Write([]byte(msg.Subject()))
	select {
	case c.shards[int(h.Sum32()%uint32(len(c.shards)))] <- msg:
	case <-c.stop:
	}
}

func (c *consumer) work(ch chan jetstream.Msg) {
	defer c.wg.Done()
	for {
		select {
		case msg := <-ch:
			c.handle(msg)
		case <-c.stop:
			return
		}
	}
}

// close stops pulling, lets the workers finish what they hold and returns.
// Unacknowledged messages are redelivered to another instance.
func (c *consumer) close() {
	c.cc.Stop()
	select {
	case <-c.cc.Closed():
	case <-time.After(2 * time.Second):
	}
	close(c.stop)
	c.wg.Wait()
}

func (c *consumer) handle(msg jetstream.Msg) {
	if md, err := msg.Metadata(); err == nil {
		c.met.pending.Set(float64(md.NumPending))
	}
	var e contract.Event
	if err := json.Unmarshal(msg.Data(), &e); err != nil || e.ConfID == "" {
		c.log.Error().Err(err).Str(logging.Subject, msg.Subject()).Msg("undecodable event dropped")
		c.met.events.WithLabelValues("?", "bad").Inc()
		_ = msg.Term()
		return
	}
	if id := contract.ConfIDFromEventsSubject(msg.Subject()); id != "" && id != e.ConfID {
		c.log.Error().Str(logging.Subject, msg.Subject()).Str(logging.ConfID, e.ConfID).Msg("event confid does not match its subject; dropped")
		c.met.events.WithLabelValues(e.Kind, "bad").Inc()
		_ = msg.Term()
		return
	}
	// The fields are added per line, not as a logger made per event: that
	// allocated on every event whether anything was logged or not.
	tag := func(l *zerolog.Event) *zerolog.Event {
		return l.Str(logging.ConfID, e.ConfID).Str(logging.CallID, e.CallID).Str("kind", e.Kind).Uint64("seq", e.Seq)
	}
	// No deadline of its own: the writer's commit is bounded (commit.go),
	// and always answers.
	err := c.st.update(context.Background(), e.ConfID, func(r *record) error { return apply(r, &e) })
	switch {
	case err == nil || errors.Is(err, errRemove):
		c.met.events.WithLabelValues(e.Kind, "applied").Inc()
		c.countResult(&e)
		tag(c.log.Debug()).Msg("event applied")
		_ = msg.Ack()
	case errors.Is(err, errNoRecord):
		if e.Kind == contract.KindDeleted {
			c.met.events.WithLabelValues(e.Kind, "applied").Inc()
			_ = msg.Ack()
			return
		}
		md, merr := msg.Metadata()
		if merr == nil && md.NumDelivered <= uint64(c.cfg.MissingRecordRetries) {
			c.met.events.WithLabelValues(e.Kind, "early").Inc()
			_ = msg.NakWithDelay(c.cfg.MissingRecordDelay)
			return
		}
		c.met.events.WithLabelValues(e.Kind, "orphan").Inc()
		tag(c.log.Warn()).Msg("event for a conference without record dropped")
		_ = msg.Ack()
	default:
		c.met.events.WithLabelValues(e.Kind, "retry").Inc()
		tag(c.log.Warn()).Err(err).Msg("event not applied; redelivering")
		_ = msg.NakWithDelay(time.Second)
	}
}

// countResult counts an invitation's result (joined or failed); an event
// without one (still ringing) is not counted.
func (c *consumer) countResult(e *contract.Event) {
	if e.Kind != contract.KindInvite || e.Result == nil {
		return
	}
	switch contract.InviteOutcome(e.Result) {
	case contract.OutcomeJoined:
		c.met.results.WithLabelValues("joined").Inc()
	case contract.OutcomeFailed:
		c.met.results.WithLabelValues("failed").Inc()
	}
}

// apply changes r by e; errSkip when nothing changes, errRemove when the
// conference is gone. It depends only on r and e (it is re-run on a
// revision conflict).
func apply(r *record, e *contract.Event) error {
	changed := false
	if e.Seq > r.LastSeq {
		r.LastSeq, changed = e.Seq, true
	}
	result := 0
	if e.Result != nil {
		result = *e.Result
	}
	// mem is e's member, added when the event is its first news.
	mem := func() *member {
		if e.CallID == "" {
			return nil
		}
		m := r.Members[e.CallID]
		if m == nil {
			// A call we did not invite (or whose invitation's KV write
			// we have not seen): it starts as invited like any other.
			m = &member{Number: e.Number, State: contract.MemberInvited}
			r.Members[e.CallID] = m
			changed = true
		} else if m.Number == "" && e.Number != "" {
			m.Number, changed = e.Number, true
		}
		return m
	}
	switch e.Kind {
	case contract.KindDeleted:
		r.Ended = e.Time // kept in the finished record (finished.go)
		return errRemove
	case contract.KindDismissed:
		if (e.Status == nil || *e.Status == 0) && r.State != contract.StateEnding {
			r.State, changed = contract.StateEnding, true
		}
	case contract.KindInvite, contract.KindJoined:
		if m := mem(); m != nil && applyJoin(r, m, e) {
			changed = true
		}
	case contract.KindQuit:
		if m := mem(); m != nil && m.applyQuit(e.Time) {
			changed = true
		}
	case contract.KindMedia:
		if result == 0 && applyMedia(r, mem, e) {
			changed = true
		}
	}
	if !changed {
		return errSkip
	}
	return nil
}

// applyJoin applies an invitation's result or a join notification to m
// (member.go); only an explicit success is evidence that anyone is (or was,
// when the quit overtook it) in the conference. It reports whether anything
// changed.
func applyJoin(r *record, m *member, e *contract.Event) (changed bool) {
	changed = m.applyOutcome(e.Result, e.Time)
	if contract.InviteOutcome(e.Result) == contract.OutcomeJoined && r.State == contract.StateWaiting {
		r.State, changed = contract.StateActive, true
	}
	return changed
}

// applyMedia applies a successful mute, unmute or recording event; each
// flag takes only events newer than the last one it took. It reports
// whether anything changed.
func applyMedia(r *record, mem func() *member, e *contract.Event) (changed bool) {
	nt, _ := strconv.Atoi(e.Media["notifytype"])
	switch nt {
	case mediaMute, mediaUnmute:
		// A mute may overtake its member's invite result: keep it.
		if m := mem(); m != nil && e.Seq > m.MediaSeq {
			m.Muted, m.MediaSeq, changed = nt == mediaMute, e.Seq, true
		}
	case mediaRecord, mediaStopRecord:
		if e.Seq > r.MediaSeq {
			r.Recording, r.MediaSeq, changed = nt == mediaRecord && e.Media["state"] != "12", e.Seq, true
		}
	}
	return changed
}
