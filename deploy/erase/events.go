package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// stored is one event of the stream that the erasure removes.
type stored struct {
	seq     uint64
	subject string
	event   *contract.Event // nil if it did not decode
	header  nats.Header
}

// events deletes the target's events from CONF_EVENTS: every event of the
// conference, or every event carrying the number. Deletion is secure
// (JetStream overwrites the message on disk). Deleting the latest event of a
// conference would let svc-callback give its sequence number to the next
// event (it continues from the latest stored one), so that one is first
// stored again without the number, with its seq, and then deleted.
func (e *eraser) events(ctx context.Context, t target, rep *report) error {
	st, err := e.js.Stream(ctx, contract.EventsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", contract.EventsStream, err)
	}
	filter := contract.EventsWildcard
	if t.conf != "" {
		filter = contract.EventsSubject(t.conf)
	}
	found, err := scan(ctx, st, filter, func(m jetstream.Msg, _ uint64) (stored, bool) { return match(m, t) })
	if err != nil {
		return err
	}
	for _, m := range found {
		confID := strings.TrimSuffix(strings.TrimPrefix(m.subject, "conf."), ".events")
		if m.event != nil && m.event.CallID != "" {
			e.calls[m.event.CallID] = true
		}
		rep.events[confID]++
		if e.dryRun {
			continue
		}
		if t.number != "" && m.event != nil {
			restored, err := e.restoreIfLast(ctx, st, m, t)
			if err != nil {
				return err
			}
			if restored {
				rep.restored++
			}
		}
		if err := st.SecureDeleteMsg(ctx, m.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("delete event %d of %s: %w", m.seq, confID, err)
		}
	}
	return nil
}

// scan reads every message of st on filter, in order, and returns those
// keep accepts (keep gets each message's stream sequence).
func scan(ctx context.Context, st jetstream.Stream, filter string, keep func(jetstream.Msg, uint64) (stored, bool)) ([]stored, error) {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	last := info.State.LastSeq
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filter, err)
	}
	var found []stored
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filter, err)
		}
		n := 0
		done := false
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			if s, ok := keep(m, md.Sequence.Stream); ok {
				s.seq = md.Sequence.Stream
				found = append(found, s)
			}
			if md.Sequence.Stream >= last || md.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("read %s: %w", filter, err)
		}
		if done || n == 0 {
			return found, nil
		}
	}
}

// match decodes m and reports whether it belongs to the target.
func match(m jetstream.Msg, t target) (stored, bool) {
	s := stored{subject: m.Subject(), header: m.Headers()}
	var ev contract.Event
	if json.Unmarshal(m.Data(), &ev) == nil {
		s.event = &ev
	}
	if t.conf != "" {
		return s, true // the consumer reads the conference's subject only
	}
	if s.event != nil && t.matchNumber(s.event.Number) {
		return s, true
	}
	return s, containsNumber(m.Data(), t.number)
}

// restoreIfLast stores m's event again without the number when it is its
// conference's latest event, expecting it to still be the latest (if
// svc-callback stored a newer one meanwhile, nothing is needed).
func (e *eraser) restoreIfLast(ctx context.Context, st jetstream.Stream, m stored, t target) (bool, error) {
	last, err := st.GetLastMsgForSubject(ctx, m.subject)
	if err != nil {
		return false, fmt.Errorf("latest event of %s: %w", m.subject, err)
	}
	if last.Sequence != m.seq {
		return false, nil
	}
	ev := *m.event
	ev.Number = ""
	for k, v := range ev.Media {
		if containsNumber([]byte(v), t.number) {
			delete(ev.Media, k)
		}
	}
	data, err := json.Marshal(&ev)
	if err != nil {
		return false, err
	}
	msg := &nats.Msg{Subject: m.subject, Data: data, Header: nats.Header{}}
	for k, v := range m.header {
		if !strings.HasPrefix(k, "Nats-") { // never the Nats-Msg-Id: the copy would be dropped as a duplicate
			msg.Header[k] = v
		}
	}
	_, err = e.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(m.seq))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return false, nil // a newer event arrived: the deleted one is no longer the latest
	}
	if err != nil {
		return false, fmt.Errorf("store %s's latest event again: %w", m.subject, err)
	}
	return true, nil
}
