// Package streamseqs reads what the events stream holds for a conference:
// the seq of every stored event, in stream order. The fault tests compare it
// with what every browser received.
package streamseqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// Read returns the seq of every stored event of confID, in stream order:
// message by message ("the next one on the subject from here"), up to the
// subject's last message, asked of the stream first. Plain gets need no
// consumer, whose creation can go unanswered for a while after a NATS node
// was cut off and came back.
func Read(ctx context.Context, js jetstream.JetStream, confID string) ([]uint64, error) {
	subject := contract.EventsSubject(confID)
	st, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", contract.EventsStream, err)
	}
	last, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last event of %s: %w", confID, err)
	}
	var out []uint64
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			return out, fmt.Errorf("event of %s from stream sequence %d (the last is %d): %w", confID, seq, last.Sequence, err)
		}
		var e contract.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			return out, fmt.Errorf("stored event of %s: %w", confID, err)
		}
		out = append(out, e.Seq)
		if m.Sequence >= last.Sequence {
			return out, nil
		}
		seq = m.Sequence + 1
	}
}
