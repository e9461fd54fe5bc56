package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
)

// CreateConf → OnConfCreate; InviteJoinConf → OnConfInviteJoin with result
// 0 for an answering number and ≠ 0 for a busy one; QuitConf → OnConfQuit,
// and when the last member is gone, OnConfDel.
func TestCreateInviteQuit(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID, err := alice.c.CreateConf(alice.ctx())
	if err != nil {
		t.Fatal(err)
	}
	created := alice.expect(contract.NotifyCreate)
	dense(t, "alice", confID, created, 1)

	// The answered call reports twice (its invitation's result and the
	// join notification), the busy one once.
	good, bad, results := inviteAnsweringAndBusy(t, st, alice, confID)
	if r := results[good]; len(r) != 2 || r[0] != 0 || r[1] != 0 {
		t.Errorf("answering number %s: results %v, want [0 0]", answering, r)
	}
	if r := results[bad]; len(r) != 1 || r[0] <= 0 {
		t.Errorf("busy number %s: results %v, want one > 0", busy, r)
	}

	if err := alice.c.QuitConf(alice.ctx(), confID, good); err != nil {
		t.Fatal(err)
	}
	end := alice.expect(contract.NotifyQuit, contract.NotifyDel)
	dense(t, "alice", confID, end, 5)
	if end[0].CallID != good {
		t.Errorf("OnConfQuit for %s, want %s", end[0].CallID, good)
	}
	alice.quiet(300 * time.Millisecond)
}

// DismissConf → OnConfDismiss, the members' OnConfQuit, and OnConfDel.
func TestDismiss(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID, err := alice.c.CreateConf(alice.ctx())
	if err != nil {
		t.Fatal(err)
	}
	member, err := alice.c.InviteJoinConf(alice.ctx(), confID, answering)
	if err != nil {
		t.Fatal(err)
	}
	st.ring()
	alice.expect(contract.NotifyCreate, contract.NotifyInviteJoin, contract.NotifyInviteJoin)
	if err := alice.c.DismissConf(alice.ctx(), confID); err != nil {
		t.Fatal(err)
	}
	evs := alice.expect(contract.NotifyDismiss, contract.NotifyQuit, contract.NotifyDel)
	dense(t, "alice", confID, evs, 4)
	if evs[0].Status == nil || *evs[0].Status != 0 {
		t.Errorf("OnConfDismiss status %v, want 0", evs[0].Status)
	}
	if evs[1].CallID != member {
		t.Errorf("OnConfQuit for %s, want %s", evs[1].CallID, member)
	}
	alice.quiet(300 * time.Millisecond)
}

// A callback the simulator retries (svc-callback stored it, but the answer
// was lost on the way back) reaches the browser once.
func TestRetriedCallbackDeliveredOnce(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID := alice.createConf()

	// The first invite callback is stored, but the platform sees a 502.
	var mu sync.Mutex
	lost := 0
	hook := func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/invite") {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if lost > 0 {
			return false
		}
		rec := httptest.NewRecorder()
		st.cb.Handler().ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Errorf("first invite callback: %d", rec.Code)
		}
		lost++
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return true
	}
	st.cbHook.Store(&hook)

	good, err := alice.c.InviteJoinConf(alice.ctx(), confID, answering)
	if err != nil {
		t.Fatal(err)
	}
	st.ring()
	first := alice.expect(contract.NotifyInviteJoin)
	dense(t, "alice", confID, first, 2)
	// The simulator retries after 1 s of its time.
	testkit.Eventually(t, "the failed delivery", 20*time.Second, func() bool { return st.deliveries("invite") == 1 })
	st.clock.Advance(time.Second)
	testkit.Eventually(t, "the retry", 20*time.Second, func() bool { return st.deliveries("invite") == 2 })
	if statuses := st.deliveryStatuses("invite"); statuses != "502,200" {
		t.Fatalf("invite deliveries: %s, want 502,200", statuses)
	}

	// Nothing but the next events follow: the join notification (queued
	// behind the retried invite result), then the live ones.
	joined := alice.expect(contract.NotifyInviteJoin)
	dense(t, "alice", confID, joined, 3)
	if err := alice.c.QuitConf(alice.ctx(), confID, good); err != nil {
		t.Fatal(err)
	}
	rest := alice.expect(contract.NotifyQuit, contract.NotifyDel)
	dense(t, "alice", confID, rest, 4)
	alice.quiet(300 * time.Millisecond)
	if n := st.storedCount(confID); n != 5 {
		t.Errorf("stream holds %d events of %s, want 5", n, confID)
	}
	if s := alice.c.Stats(); s.Duplicates != 0 || s.Gaps != 0 {
		t.Errorf("client stats %+v", s)
	}
}

// A browser disconnected while 5 events happen reconnects to the second
// edge and gets exactly those 5, in order, then live ones.
func TestResumeOnSecondEdge(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID := alice.createConf()
	// Four invitations ring while alice is connected; nothing answers yet.
	calls := map[string]string{}
	for _, n := range []string{answering, answering2, answering3, busy} {
		id, err := alice.c.InviteJoinConf(alice.ctx(), confID, n)
		if err != nil {
			t.Fatal(err)
		}
		calls[n] = id
	}
	resume := alice.c.ResumePoints()
	if resume[confID] != 1 {
		t.Fatalf("resume points %v, want %s:1", resume, confID)
	}
	if err := alice.c.Close(); err != nil {
		t.Fatal(err)
	}

	// Away: three answer (an invitation result and a join notification
	// each) and one is busy (7 events), one member hangs up (8).
	st.ring()
	testkit.Eventually(t, "seven invitation results and joins", 20*time.Second, func() bool { return st.lastSeq(confID) == 8 })
	if err := st.sim.Hangup(calls[answering]); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the quit", 20*time.Second, func() bool { return st.lastSeq(confID) == 9 })

	back := st.dial(1, "alice", client.WithResume(resume))
	ij := contract.NotifyInviteJoin
	missed := back.expect(ij, ij, ij, ij, ij, ij, ij, contract.NotifyQuit)
	dense(t, "alice on edge 2", confID, missed, 2)
	if missed[7].CallID != calls[answering] {
		t.Errorf("replayed quit of %s, want %s", missed[7].CallID, calls[answering])
	}
	// Then live.
	if err := back.c.QuitConf(back.ctx(), confID, calls[answering2]); err != nil {
		t.Fatal(err)
	}
	live := back.expect(contract.NotifyQuit)
	dense(t, "alice live", confID, live, 10)
	back.quiet(300 * time.Millisecond)
	if s := back.c.Stats(); s.Duplicates != 0 || s.Gaps != 0 || s.Lost != 0 {
		t.Errorf("client stats %+v", s)
	}
}

// Watchers of one conference on two edges each get every event once.
func TestWatchersOnTwoEdges(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID := alice.createConf()
	ops1 := st.dial(0, "ops1", client.WithOperator(operatorToken))
	ops2 := st.dial(1, "ops2", client.WithOperator(operatorToken))
	for _, b := range []*browser{ops1, ops2} {
		if _, err := b.c.WatchConf(b.ctx(), confID, 0); err != nil {
			t.Fatalf("%s WatchConf: %v", b.c.ClientID(), err)
		}
	}
	good, err := alice.c.InviteJoinConf(alice.ctx(), confID, answering)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.InviteJoinConf(alice.ctx(), confID, busy); err != nil {
		t.Fatal(err)
	}
	st.ring()
	if err := alice.c.QuitConf(alice.ctx(), confID, good); err != nil {
		t.Fatal(err)
	}
	want := []string{contract.NotifyCreate, contract.NotifyInviteJoin, contract.NotifyInviteJoin, contract.NotifyInviteJoin, contract.NotifyQuit, contract.NotifyDel}
	alice.expect(want[1:]...)
	for _, b := range []*browser{ops1, ops2, alice} {
		if b != alice {
			dense(t, b.c.ClientID(), confID, b.expect(want...), 1)
		}
		b.quiet(300 * time.Millisecond)
		if s := b.c.Stats(); s.Duplicates != 0 || s.Gaps != 0 {
			t.Errorf("%s stats %+v", b.c.ClientID(), s)
		}
	}
}

// A callback with a wrong secret gets 404 and nothing is published; with
// the right secret on a path naming no kind it is kept (200), not published.
func TestWrongSecret(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice")
	confID := alice.createConf()
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><request><confid>%s</confid><deltime>20261128120500</deltime></request>`, confID)
	for _, s := range []string{"wrong", secret + "x", ""} {
		if code := st.postCallback(s, contract.KindDeleted, body); code != http.StatusNotFound {
			t.Errorf("secret %q: %d, want 404", s, code)
		}
	}
	if code := st.postCallback(secret, "nosuchkind", body); code != http.StatusOK {
		t.Errorf("unknown kind: %d, want 200 (kept raw, not published)", code)
	}
	alice.quiet(500 * time.Millisecond)
	if n := st.storedCount(confID); n != 1 {
		t.Errorf("stream holds %d events of %s, want 1", n, confID)
	}
	// The right secret is published (the control of this test).
	if code := st.postCallback(secret, contract.KindDeleted, body); code != http.StatusOK {
		t.Fatalf("right secret: %d", code)
	}
	dense(t, "alice", confID, alice.expect(contract.NotifyDel), 2)
}

// With NATS stopped a callback gets a non-2xx answer; once NATS is back the
// simulator's retry is delivered, once.
func TestNATSOutage(t *testing.T) {
	st := newStack(t)
	alice := st.dial(0, "alice", client.WithReconnect(), client.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	confID := alice.createConf()
	good, err := alice.c.InviteJoinConf(alice.ctx(), confID, answering)
	if err != nil {
		t.Fatal(err)
	}

	st.nats.Stop()
	testkit.Eventually(t, "svc-callback to see NATS gone", 20*time.Second, func() bool { return !st.cbNC.IsConnected() })
	st.ring() // the call answers: the invite callback fails
	testkit.Eventually(t, "the failed delivery", 20*time.Second, func() bool { return st.deliveries("invite") == 1 })
	if s := st.deliveryStatuses("invite"); s == "200" || strings.HasPrefix(s, "2") {
		t.Fatalf("invite delivery with NATS down: %s, want non-2xx", s)
	}

	st.nats.Start()
	st.waitReconnected()
	testkit.Eventually(t, "svc-callback ready", 20*time.Second, func() bool { return st.ready() })
	// The simulator's retry. A second failure may already have happened
	// while NATS was down: when the first one came back before ring's
	// Advance returned, its 1 s retry fell inside it too. So time moves
	// on until a retry gets through.
	testkit.Eventually(t, "a retry that gets 200", 20*time.Second, func() bool {
		if strings.HasSuffix(st.deliveryStatuses("invite"), ",200") {
			return true
		}
		if n := st.deliveries("invite"); n > 0 {
			st.clock.Advance(time.Second)
		}
		return false
	})
	for _, code := range strings.Split(strings.TrimSuffix(st.deliveryStatuses("invite"), ",200"), ",") {
		if strings.HasPrefix(code, "2") {
			t.Fatalf("invite deliveries %s: a 2xx while NATS was down", st.deliveryStatuses("invite"))
		}
	}
	// The invite result, then the join notification queued behind it.
	ev := alice.expect(contract.NotifyInviteJoin, contract.NotifyInviteJoin)
	dense(t, "alice", confID, ev, 2)
	for _, e := range ev {
		if e.CallID != good || e.Result == nil || *e.Result != 0 {
			t.Errorf("OnConfInviteJoin %+v", e.params)
		}
	}
	alice.quiet(300 * time.Millisecond)
	if n := st.storedCount(confID); n != 3 {
		t.Errorf("stream holds %d events, want 3", n)
	}
}

// deliveries counts the simulator's delivery attempts of kind.
func (st *stack) deliveries(kind string) int {
	n := 0
	for _, d := range st.sim.Deliveries() {
		if d.Kind == kind {
			n++
		}
	}
	return n
}

// deliveryStatuses lists the HTTP statuses of kind's deliveries, "502,200".
func (st *stack) deliveryStatuses(kind string) string {
	var s []string
	for _, d := range st.sim.Deliveries() {
		if d.Kind == kind {
			s = append(s, fmt.Sprint(d.Status))
		}
	}
	return strings.Join(s, ",")
}

// ready asks svc-callback's /readyz.
func (st *stack) ready() bool {
	rec := httptest.NewRecorder()
	st.cb.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	_, _ = io.Copy(io.Discard, rec.Body)
	return rec.Code == http.StatusOK
}

// The same outage, but the platform's retry is stored while the edges are
// still reconnecting to NATS: their live subscription misses it, and no
// later event comes to reveal the gap. svc-edge re-reads the stream for
// every watched conference after a NATS reconnect, so it is delivered.
func TestNATSOutageEdgeReconnectsLate(t *testing.T) {
	st := newStack(t, func(st *stack) { st.edgeReconnectWait = 3 * time.Second })
	alice := st.dial(0, "alice", client.WithReconnect(), client.WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	confID := alice.createConf()
	if _, err := alice.c.InviteJoinConf(alice.ctx(), confID, answering); err != nil {
		t.Fatal(err)
	}
	st.nats.Stop()
	testkit.Eventually(t, "svc-callback to see NATS gone", 20*time.Second, func() bool { return !st.cbNC.IsConnected() })
	st.ring()
	testkit.Eventually(t, "the failed delivery", 20*time.Second, func() bool { return st.deliveries("invite") >= 1 })
	st.nats.Start()
	testkit.Eventually(t, "svc-callback ready", 20*time.Second, func() bool { return st.ready() })
	// The retry, stored before the edges are back. As in TestNATSOutage, a
	// second failure may already have happened inside ring's Advance, and
	// the next retry is further away: time moves on until one gets 200.
	testkit.Eventually(t, "a retry that gets 200", 20*time.Second, func() bool {
		if strings.HasSuffix(st.deliveryStatuses("invite"), ",200") {
			return true
		}
		st.clock.Advance(time.Second)
		return false
	})
	dense(t, "alice", confID, alice.expect(contract.NotifyInviteJoin), 2)
}
