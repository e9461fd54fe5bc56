package conference

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
)

// TestTwoInstancesConcurrentInvites: two instances take invitations into
// one conference at once, while events for the same conference are applied;
// no member update is lost.
func TestTwoInstancesConcurrentInvites(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := e.start(nil)
	b := e.start(nil)
	confID := e.create("alice", 300)

	const n = 60
	calls := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			calls[i] = e.invite("alice", confID, fmt.Sprintf("139%08d", i))
			// Half of them join at once: the consumer writes the same
			// record as the handlers.
			if i%2 == 0 {
				e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: calls[i], Result: intp(0), Time: "20261128120000"})
			}
		})
	}
	wg.Wait()
	// Reads are answered from each instance's view of the bucket, which
	// follows the other instance's writes a little later: wait until both
	// views hold the outcome, then read through the service.
	settled := func(s *Service) bool {
		r, err := s.st.read(context.Background(), confID)
		if err != nil || r == nil || len(r.Members) != n {
			return false
		}
		for i, id := range calls {
			m := r.Members[id]
			if m == nil || (m.State == contract.MemberJoined) != (i%2 == 0) {
				return false
			}
		}
		return true
	}
	testkit.Eventually(t, "all members recorded and half joined, in both instances' views", 10*time.Second, func() bool {
		return settled(a) && settled(b)
	})
	c := e.getConf("alice", confID)
	for i, id := range calls {
		m, ok := findMember(c, id)
		want := contract.MemberInvited
		if i%2 == 0 {
			want = contract.MemberJoined
		}
		if !ok || m.State != want || m.Number != fmt.Sprintf("139%08d", i) {
			t.Fatalf("member %d: %+v (found %v), want %s", i, m, ok, want)
		}
	}
	// Both instances served requests.
	served := func(s *Service) int {
		for _, ep := range s.svc.Stats().Endpoints {
			if ep.Name == contract.MethodInviteJoinConf {
				return ep.NumRequests
			}
		}
		return 0
	}
	if served(a) == 0 || served(b) == 0 {
		t.Fatalf("one instance served every invite (a=%d b=%d)", served(a), served(b))
	}
	t.Logf("invites a=%d b=%d; revision conflicts retried a=%v b=%v", served(a), served(b),
		testCounter(a.met.conflicts), testCounter(b.met.conflicts))
}

// TestRestart: conferences survive a restart of the service and a restart
// of NATS on the same store.
func TestRestart(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(nil)
	conf1 := e.create("alice", 5)
	conf2 := e.create("bob", 5)
	call1 := e.invite("alice", conf1, "13812345678")
	e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: conf1, CallID: call1, Result: intp(0), Time: "20261128120000"})
	testkit.Eventually(t, "joined", 10*time.Second, func() bool { return e.getConf("alice", conf1).Count == 1 })
	before1, before2 := e.getConf("alice", conf1), e.getConf("bob", conf2)

	svc.Stop()
	e.start(nil)
	if got := e.getConf("alice", conf1); !sameConf(got, before1) {
		t.Fatalf("after service restart: %+v, want %+v", got, before1)
	}

	// NATS restarts on the same store; the service reconnects by itself.
	e.ns.Restart()
	testkit.Eventually(t, "reconnected", 10*time.Second, func() bool { return e.nc.IsConnected() })
	testkit.Eventually(t, "service answers again", 10*time.Second, func() bool {
		_, err := e.nc.Request(contract.ServiceSubject(contract.MethodListOwned), nil, time.Second)
		return err == nil
	})
	if got := e.getConf("alice", conf1); !sameConf(got, before1) {
		t.Fatalf("after NATS restart: %+v, want %+v", got, before1)
	}
	if got := e.getConf("bob", conf2); !sameConf(got, before2) {
		t.Fatalf("after NATS restart: %+v, want %+v", got, before2)
	}
	var ids []string
	mustJSON(t, e.must(contract.MethodListOwned, "alice", nil), &ids)
	if !slices.Equal(ids, []string{conf1}) {
		t.Fatalf("ListOwned %v", ids)
	}
	// The events consumer survived too.
	e.publishEvent(contract.Event{Kind: contract.KindQuit, ConfID: conf1, CallID: call1, Time: "20261128120100"})
	testkit.Eventually(t, "left after restart", 10*time.Second, func() bool {
		m, _ := findMember(e.getConf("alice", conf1), call1)
		return m.State == contract.MemberLeft
	})
	// And both restart together: a new instance on a new connection.
	e.ns.Restart()
	testkit.Eventually(t, "reconnected", 10*time.Second, func() bool { return e.nc.IsConnected() })
	e.start(nil)
	if got := e.getConf("bob", conf2); !sameConf(got, before2) {
		t.Fatalf("after both restarts: %+v", got)
	}
}

func sameConf(a, b contract.Conference) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestEventsStream: events stored twice and out of order, through the real
// stream and consumer, leave the right state; an event that overtakes
// CreateConf's write is applied once the record exists.
func TestEventsStream(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(nil)
	confID := e.create("alice", 10)
	callA := e.invite("alice", confID, "13812345678")
	callB := e.invite("alice", confID, "13912345678")
	callC := e.invite("alice", confID, "13712345678")

	// Stored order: B's quit before its join, A's join twice (a redelivery
	// svc-callback could not recognise), C fails, A muted then unmuted with
	// the mute stored again afterwards.
	quitB := contract.Event{Kind: contract.KindQuit, ConfID: confID, CallID: callB, Seq: 2, Time: "20261128120005"}
	joinB := contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: callB, Result: intp(0), Seq: 1, Time: "20261128120001"}
	joinA := contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: callA, Result: intp(0), Seq: 3, Time: "20261128120002"}
	failC := contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: callC, Result: intp(2), Seq: 4}
	muteA := contract.Event{Kind: contract.KindMedia, ConfID: confID, CallID: callA, Result: intp(0), Seq: 5, Media: map[string]string{"notifytype": "4"}}
	unmuteA := contract.Event{Kind: contract.KindMedia, ConfID: confID, CallID: callA, Result: intp(0), Seq: 6, Media: map[string]string{"notifytype": "14"}}
	for _, ev := range []contract.Event{quitB, joinB, joinA, joinA, failC, unmuteA, muteA, joinB, quitB} {
		e.publishEvent(ev)
	}
	testkit.Eventually(t, "all applied", 10*time.Second, func() bool { return e.getConf("alice", confID).LastSeq == 6 })
	testkit.Eventually(t, "consumer idle", 10*time.Second, func() bool {
		info, err := svc.cons.cons.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	c := e.getConf("alice", confID)
	want := map[string]string{callA: contract.MemberJoined, callB: contract.MemberLeft, callC: contract.MemberFailed}
	for id, st := range want {
		m, _ := findMember(c, id)
		if m.State != st {
			t.Fatalf("%s: %+v, want %s", id, m, st)
		}
	}
	if m, _ := findMember(c, callA); m.Muted {
		t.Fatal("A muted by a stale event")
	}
	if m, _ := findMember(c, callC); m.Result != 2 {
		t.Fatalf("C result %d", m.Result)
	}
	if c.Count != 1 || c.State != contract.StateActive {
		t.Fatalf("count %d state %d", c.Count, c.State)
	}

	// An event for a conference whose record is not written yet waits.
	const early = "87654321"
	e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: early, CallID: callA, Number: "13812345678", Result: intp(0), Seq: 1, Time: "20261128120009"})
	testkit.Eventually(t, "early event redelivered", 10*time.Second, func() bool {
		return testCounter(svc.met.events.WithLabelValues(contract.KindInvite, "early")) >= 1
	})
	if err := svc.st.create(context.Background(), &record{V: 1, ConfID: early, Owner: "alice", Created: time.Now(), MaxMember: 5, Members: map[string]*member{}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "early event applied", 10*time.Second, func() bool {
		m, ok := findMember(e.getConf("alice", early), callA)
		return ok && m.State == contract.MemberJoined && m.Number == "13812345678"
	})
	// An event for a conference that never gets a record is dropped.
	e.publishEvent(contract.Event{Kind: contract.KindQuit, ConfID: "11112222", CallID: callA, Seq: 1})
	testkit.Eventually(t, "orphan dropped", 10*time.Second, func() bool {
		return testCounter(svc.met.events.WithLabelValues(contract.KindQuit, "orphan")) == 1
	})
}

// TestConcurrencyNotSerialized: with a 200 ms platform, 40 invitations at
// once finish in far less than 40 × 200 ms.
func TestConcurrencyNotSerialized(t *testing.T) {
	e := newEnv(t, envOpts{latency: 200 * time.Millisecond})
	e.start(func(c *Config) { c.Concurrency = 64 })
	confs := make([]string, 4)
	for i := range confs {
		confs[i] = e.create(fmt.Sprintf("client%d", i), 20)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { e.invite(fmt.Sprintf("client%d", i%4), confs[i%4], fmt.Sprintf("136%08d", i)) })
	}
	wg.Wait()
	// Serialized they would take 8 s; allow for a loaded machine.
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("40 invitations took %v: serialized?", d)
	} else {
		t.Logf("40 invitations at 200 ms platform latency: %v", d)
	}
	// And a pool of 1 does serialize: the bound holds.
	e2 := newEnv(t, envOpts{latency: 100 * time.Millisecond})
	e2.start(func(c *Config) { c.Concurrency = 1 })
	conf := e2.create("x", 10)
	start = time.Now()
	for i := range 4 {
		wg.Go(func() { e2.invite("x", conf, fmt.Sprintf("135%08d", i)) })
	}
	wg.Wait()
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("concurrency 1 ran 4 × 100 ms in %v", d)
	}
}

// TestStopOnItsOwn: when micro stops the service (here: its subscriptions
// are gone with the connection), Done closes and Err says why.
func TestStopOnItsOwn(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(nil)
	svc.nc.Close()
	select {
	case <-svc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if svc.Err() == nil {
		t.Fatal("no error")
	}
	// A plain Stop is no failure.
	other := e.start(nil)
	other.Stop()
	<-other.Done()
	if err := other.Err(); err != nil {
		t.Fatalf("Stop reported %v", err)
	}
}
