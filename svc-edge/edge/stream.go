package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/eventlog"
	"confapplet/pkg/streams"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
	if rp := s.CachedInfo().Config.RePublish; rp == nil || rp.Destination != streams.LiveWildcard {
		// Live events reach the edges only through the republish, which
		// svc-callback sets when it creates or updates the stream.
		h.log.Error().Str("stream", contract.EventsStream).Msg("events stream does not republish stored events: live events will not be delivered until svc-callback has updated it")
	}
	h.stream = s
	return s, nil
}

// lastStored returns the last event stored for confID: its stream sequence
// and event seq, zeros when there is none (or no stream yet).
func (h *hub) lastStored(ctx context.Context, confID string) (streamSeq, seq uint64, err error) {
	return h.lastStoredVia(ctx, confID, false)
}

// lastStoredVia is lastStored, read through the stream leader when leader
// is set (leaderGet).
func (h *hub) lastStoredVia(ctx context.Context, confID string, leader bool) (streamSeq, seq uint64, err error) {
	st, err := h.events(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	var m *jetstream.RawStreamMsg
	if leader {
		m, err = h.leaderGet(ctx, msgGetRequest{LastBySubject: contract.EventsSubject(confID)})
	} else {
		m, err = st.GetLastMsgForSubject(ctx, contract.EventsSubject(confID))
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	seq, _ = eventlog.StoredSeq(m)
	return m.Sequence, seq, nil
}

// lastSeq is the last event seq stored for confID.
func (h *hub) lastSeq(ctx context.Context, confID string) (uint64, error) {
	_, seq, err := h.lastStored(ctx, confID)
	return seq, err
}

// next reads the first event of confID stored at stream sequence ≥ from.
func (h *hub) next(ctx context.Context, confID string, from uint64) (*jetstream.RawStreamMsg, error) {
	return h.nextVia(ctx, confID, from, false)
}

// nextVia is next, read through the stream leader when leader is set.
func (h *hub) nextVia(ctx context.Context, confID string, from uint64, leader bool) (*jetstream.RawStreamMsg, error) {
	h.reads.Add(1)
	st, err := h.events(ctx)
	if err != nil {
		return nil, err
	}
	if leader {
		return h.leaderGet(ctx, msgGetRequest{Seq: from, NextBySubject: contract.EventsSubject(confID)})
	}
	return st.GetMsg(ctx, from, jetstream.WithGetMsgSubject(contract.EventsSubject(confID)))
}

// msgGetRequest is the JetStream API's STREAM.MSG.GET request.
type msgGetRequest struct {
	Seq           uint64 `json:"seq,omitempty"`
	NextBySubject string `json:"next_by_subj,omitempty"`
	LastBySubject string `json:"last_by_subj,omitempty"`
}

// leaderGet reads one message through the stream's leader. Direct gets,
// the fast path, may be answered by any replica, and one that rejoined
// after a partition can lag behind for seconds: it must not be the one
// that decides an event is gone.
func (h *hub) leaderGet(ctx context.Context, req msgGetRequest) (*jetstream.RawStreamMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	reply, err := h.nc.RequestWithContext(ctx, jsAPIPrefix(h.js)+"STREAM.MSG.GET."+contract.EventsStream, body)
	if err != nil {
		return nil, fmt.Errorf("leader get: %w", err)
	}
	var resp struct {
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs,omitempty"`
			Data    []byte    `json:"data,omitempty"`
			Time    time.Time `json:"time"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return nil, fmt.Errorf("leader get: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound):
		return nil, jetstream.ErrMsgNotFound
	case resp.Error != nil:
		return nil, fmt.Errorf("leader get: %s (%d)", resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, errors.New("leader get: empty answer")
	}
	m := &jetstream.RawStreamMsg{Subject: resp.Message.Subject, Sequence: resp.Message.Seq, Data: resp.Message.Data, Time: resp.Message.Time}
	if len(resp.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(resp.Message.Header); err != nil {
			return nil, fmt.Errorf("leader get: %w", err)
		}
	}
	return m, nil
}

// jsAPIPrefix is the JetStream API prefix js sends its requests with.
func jsAPIPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
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
	msg, err = appendNotification(make([]byte, 0, 192), &ev)
	if err != nil {
		return 0, nil, err
	}
	return ev.Seq, msg, nil
}
