package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go/jetstream"
)

// endWhileAway runs a conference of alice's with two answered members
// (events 1–5), closes her connection, and has both members hang up, which
// ends the conference (OnConfQuit 6, 7, OnConfDel 8) while she is away. It
// returns the conference and her resume points, once svc-conference has
// deleted the conference's state.
func endWhileAway(t *testing.T, st *stack) (confID string, resume map[string]uint64) {
	t.Helper()
	alice := st.dial(0, "alice")
	confID = alice.createConf()
	var calls []string
	for _, n := range []string{answering, answering2} {
		id, err := alice.c.InviteJoinConf(alice.ctx(), confID, n)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, id)
	}
	st.ring()
	ij := contract.NotifyInviteJoin
	dense(t, "alice", confID, alice.expect(ij, ij, ij, ij), 2)
	resume = alice.c.ResumePoints()
	if resume[confID] != 5 {
		t.Fatalf("resume points %v, want %s:5", resume, confID)
	}
	if err := alice.c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range calls {
		if err := st.sim.Hangup(id); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, "two quits and the deletion", 20*time.Second, func() bool { return st.lastSeq(confID) == 8 })
	testkit.Eventually(t, "the conference's state deleted", 20*time.Second, func() bool { return st.stateGone(confID) })
	return confID, resume
}

// stateGone reports whether svc-conference no longer holds confID's record
// (the conference ended).
func (st *stack) stateGone(confID string) (gone bool) {
	st.t.Helper()
	st.withJS(func(ctx context.Context, js jetstream.JetStream) {
		kv, err := js.KeyValue(ctx, contract.ConfBucket)
		if err != nil {
			st.t.Fatal(err)
		}
		_, err = kv.Get(ctx, confID)
		gone = errors.Is(err, jetstream.ErrKeyNotFound)
	})
	return gone
}

// A browser away while its conference ends resumes and gets what it
// missed, once and in order, ending with OnConfDel; then nothing more, and
// the connection stays open.
func TestResumeEndedConference(t *testing.T) {
	st := newStack(t)
	confID, resume := endWhileAway(t, st)

	back := st.dial(1, "alice", client.WithResume(resume))
	missed := back.expect(contract.NotifyQuit, contract.NotifyQuit, contract.NotifyDel)
	dense(t, "alice resumed", confID, missed, 6)
	back.quiet(500 * time.Millisecond)
	if _, err := back.c.QueryConfState(back.ctx(), confID); rpcCode(err) != 1001 {
		t.Fatalf("QueryConfState of the ended conference: %v, want 1001", err)
	}
	if s := back.c.Stats(); s.Disconnects != 0 || s.Duplicates != 0 || s.Gaps != 0 || s.Lost != 0 {
		t.Errorf("client stats %+v", s)
	}
	// The watch ended with the replay: the edge holds neither it nor a
	// subscription to the conference.
	for _, m := range []string{"confapplet_edge_watches", "confapplet_edge_conference_subscriptions"} {
		if v := st.edgeMetric(1, m); v != "0" {
			t.Errorf("edge 2 %s = %s, want 0", m, v)
		}
	}

	// A resume point already past the end (the events were seen) delivers
	// nothing.
	again := st.dial(0, "alice", client.WithResume(map[string]uint64{confID: 8}))
	again.quiet(500 * time.Millisecond)
}

// An explicit WatchConf of a conference that has ended replays its events
// after since, up to its last.
func TestWatchEndedConference(t *testing.T) {
	st := newStack(t)
	confID, _ := endWhileAway(t, st)

	ops := st.dial(1, "ops", client.WithOperator(operatorToken))
	res, err := ops.c.WatchConf(ops.ctx(), confID, 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != 8 {
		t.Errorf("WatchConf result seq %d, want 8", res.Seq)
	}
	dense(t, "ops", confID, ops.expect(contract.NotifyQuit, contract.NotifyQuit, contract.NotifyDel), 6)
	ops.quiet(300 * time.Millisecond)

	// Without the operator token, another client is told nothing about it.
	bob := st.dial(0, "bob")
	if _, err := bob.c.WatchConf(bob.ctx(), confID, 0); rpcCode(err) != 1001 {
		t.Fatalf("bob WatchConf of alice's ended conference: %v, want 1001", err)
	}
	bob.quiet(300 * time.Millisecond)
}

// edgeMetric is the value of an unlabelled metric of edge i, as its ops
// listener serves it.
func (st *stack) edgeMetric(i int, name string) string {
	st.t.Helper()
	rec := httptest.NewRecorder()
	st.edgeSrvs[i].OpsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	st.t.Fatalf("edge %d serves no %s", i, name)
	return ""
}
