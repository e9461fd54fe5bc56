package callback

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// leaderElectionWait bounds how long one publish waits for a stream that
// has no leader (no responders, or a 503 answer). Electing a leader after
// a node is lost or cut off takes seconds, and answering the platform 503
// meanwhile spends one of its few retries; a stream that is gone for good
// looks the same, so the wait stays well below PublishTimeout.
const leaderElectionWait = 3 * time.Second

// publishThroughElection is js.PublishMsg, repeated while the stream has
// no leader, for at most leaderElectionWait. A repeat is safe: the
// Nats-Msg-Id makes one that was stored after all a duplicate, and the
// server checks that before any expected-sequence condition.
func publishThroughElection(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	deadline := time.Now().Add(leaderElectionWait)
	for {
		ack, err := js.PublishMsg(ctx, msg, opts...)
		if err == nil || !noStreamLeader(err) || time.Now().After(deadline) {
			return ack, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// noStreamLeader reports a publish that no stream leader answered.
func noStreamLeader(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.As(err, &apiErr) && apiErr.Code == http.StatusServiceUnavailable
}
