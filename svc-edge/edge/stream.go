package edge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"confapplet/pkg/contract"
	"confapplet/pkg/jsonrpc"

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

// lastIfAnnounced is the live fetch's fast path, for the common case of one new
// event announced: the last event stored for confID (an indexed lookup,
// where next scans the stream from a position), if it is event seq, stored
// after stream sequence after, with its notification; else nil (the caller
// reads with next).
func (h *hub) lastIfAnnounced(ctx context.Context, confID string, seq, after uint64) (*jetstream.RawStreamMsg, uint64, []byte) {
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
