package callback

import (
	"context"
	"errors"
	"testing"
	"time"

	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPublishThroughElection: a publish made while no stream answers (as
// during a leader election) is stored once the stream answers again within
// leaderElectionWait, where a plain publish gives up after half a second;
// past the wait it fails as "no stream response" (a stream gone for good).
func TestPublishThroughElection(t *testing.T) {
	ns := testkit.StartNATS(t)
	_, js := ns.ConnectJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := js.PublishMsg(ctx, nats.NewMsg("elect.a")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("plain publish without a stream: %v, want no stream response", err)
	}
	go func() {
		time.Sleep(1200 * time.Millisecond)
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ELECT", Subjects: []string{"elect.>"}}); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	ack, err := publishThroughElection(ctx, js, nats.NewMsg("elect.a"), jetstream.WithMsgID("one"))
	if err != nil || ack.Stream != "ELECT" {
		t.Fatalf("publish through the election: %v %+v", err, ack)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("stored after %s, before the stream existed", d)
	}

	start = time.Now()
	_, err = publishThroughElection(ctx, js, nats.NewMsg("nowhere.a"))
	if !errors.Is(err, jetstream.ErrNoStreamResponse) || time.Since(start) < leaderElectionWait {
		t.Fatalf("no stream at all: %v after %s, want no stream response after ≥ %s", err, time.Since(start), leaderElectionWait)
	}
}
