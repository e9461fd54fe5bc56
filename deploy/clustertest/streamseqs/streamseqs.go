// Package streamseqs reads what the events stream holds for a conference:
// the seq of every stored event, in stream order. The fault tests compare it
// with what every browser received.
package streamseqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"confapplet/pkg/contract"

	"github.com/nats-io/nats.go/jetstream"
)

// Read returns the seq of every stored event of confID, in stream order.
// It reads until the conference's last stored message (the subject's last,
// asked of the stream first): a new ordered consumer's pending count can
// still be 0 when it is asked at once.
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
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, fmt.Errorf("ordered consumer on %s: %w", confID, err)
	}
	var out []uint64
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return out, fmt.Errorf("fetch %s: %w", confID, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var e contract.Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return out, fmt.Errorf("stored event of %s: %w", confID, err)
			}
			out = append(out, e.Seq)
			if meta, err := m.Metadata(); err == nil && meta.Sequence.Stream >= last.Sequence {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return out, fmt.Errorf("fetch %s: %w", confID, err)
		}
		if got == 0 {
			return out, fmt.Errorf("%s: the stream's last event (stream sequence %d) never came", confID, last.Sequence)
		}
	}
}
