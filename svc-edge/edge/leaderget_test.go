package edge

import (
	"context"
	"errors"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/streams"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestLeaderGetMatchesDirectGet: the replay's leader reads (used before a
// gap is called lost) see what direct gets see, headers included, on an R3
// stream; a conference with nothing after a sequence is "not found".
func TestLeaderGetMatchesDirectGet(t *testing.T) {
	cl := testkit.StartNATSCluster(t, 3)
	nc, err := nats.Connect(cl.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := streams.EnsureEvents(ctx, js, streams.EventsConfig{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, conf := range []string{"1234", "5678", "1234", "5678", "1234"} {
		m := nats.NewMsg(contract.EventsSubject(conf))
		m.Header.Set("Confapplet-Test", conf)
		m.Data = []byte(`{"seq":` + string(rune('1'+i)) + `}`)
		// A new R3 stream's subjects reach every server of the cluster a
		// moment after it is created: until then a publish has no
		// responders.
		testkit.Eventually(t, "the events stream takes a publish", 10*time.Second, func() bool {
			_, err := js.PublishMsg(ctx, m)
			if err != nil && !errors.Is(err, jetstream.ErrNoStreamResponse) {
				t.Fatal(err)
			}
			return err == nil
		})
	}
	h := newHub(nc, js, zerolog.Nop(), newMetrics(), 5*time.Second)
	t.Cleanup(h.close)

	for from := uint64(1); from <= 6; from++ {
		direct, derr := st.GetMsg(ctx, from, jetstream.WithGetMsgSubject(contract.EventsSubject("1234")))
		leader, lerr := h.nextVia(ctx, "1234", from, true)
		if from == 6 {
			if !errors.Is(derr, jetstream.ErrMsgNotFound) || !errors.Is(lerr, jetstream.ErrMsgNotFound) {
				t.Fatalf("past the end: direct %v, leader %v; want not found from both", derr, lerr)
			}
			continue
		}
		if derr != nil || lerr != nil {
			t.Fatalf("from %d: direct %v, leader %v", from, derr, lerr)
		}
		if leader.Sequence != direct.Sequence || string(leader.Data) != string(direct.Data) ||
			leader.Subject != direct.Subject || leader.Header.Get("Confapplet-Test") != "1234" {
			t.Errorf("from %d: leader %+v, direct %+v", from, leader, direct)
		}
	}
	sseq, seq, err := h.lastStoredVia(ctx, "5678", true)
	if err != nil || sseq != 4 || seq != 4 {
		t.Errorf("last of 5678 through the leader: stream seq %d, seq %d, %v; want 4, 4", sseq, seq, err)
	}
	if sseq, seq, err := h.lastStoredVia(ctx, "9999", true); err != nil || sseq != 0 || seq != 0 {
		t.Errorf("last of a conference with no event: %d %d %v", sseq, seq, err)
	}
}

// TestLiveGapRepairedFromStream: a watch that stands behind what is stored
// (placed by a read a lagging replica answered) and then sees a later live
// event reads the missing events from the stream leader and delivers them,
// instead of telling the client they are lost. Events that are really gone
// are still reported (TestEventsLost).
func TestLiveGapRepairedFromStream(t *testing.T) {
	e := newEnv(t)
	e.ownedBy(map[string][]string{"g": {"4444"}})
	ed := e.edge(nil)
	cl := dial(t, ed.url, "g", "resume=4444:0")
	e.publish("4444", 1, contract.KindCreated)
	e.publish("4444", 2, contract.KindJoined)
	wantSeqs(t, "live", cl.events(2), 1)

	s := ed.srv.sessionOf("g")
	s.mu.Lock()
	w := s.watches["4444"]
	s.mu.Unlock()
	w.mu.Lock()
	w.last = 1 // as if seq 2 had not been seen when the watch was placed
	w.mu.Unlock()

	e.publish("4444", 3, contract.KindQuit)
	got := cl.events(2)
	for _, m := range got {
		if m.Method == contract.NotifyEventsLost {
			t.Fatalf("seq 2 is stored, yet reported lost: %s", m.raw)
		}
	}
	wantSeqs(t, "repaired", got, 2)
}
