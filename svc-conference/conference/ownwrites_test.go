package conference

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
)

// The projection writes each event's change without reading the record
// first (this instance wrote it last), so 20 events of one conference
// cost 20 KV writes and (almost) no KV reads; the state is still exact.
func TestProjectionWritesWithoutReading(t *testing.T) {
	e := newEnv(t, envOpts{realClock: true})
	svc := e.start(nil)
	conf := e.create("alice", 50)
	var gets atomic.Int64
	sub, err := e.nc.Subscribe("$JS.API.DIRECT.GET.KV_"+contract.ConfBucket+".>", func(*nats.Msg) { gets.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = e.nc.Flush()
	applied := svc.met.events.WithLabelValues(contract.KindJoined, "applied")
	base := testCounter(applied)
	for i := range 20 {
		e.publishEvent(contract.Event{Kind: contract.KindJoined, ConfID: conf, CallID: fmt.Sprintf("%032d", i),
			Number: "13800138000", Result: intp(0), Time: "20261128103000"})
	}
	testkit.Eventually(t, "20 events applied", 10*time.Second, func() bool { return testCounter(applied)-base == 20 })
	if n := gets.Load(); n > 2 {
		t.Errorf("%d KV reads of the record for 20 events", n)
	}
	if c := e.getConf("alice", conf); len(c.Members) != 20 {
		t.Errorf("%d members, want 20", len(c.Members))
	}
}

// A write that starts from a record another instance has changed since is
// refused by the revision check and done again from the current record:
// nothing written by either instance is lost.
func TestStaleOwnRecordIsNotWritten(t *testing.T) {
	e := newEnv(t, envOpts{realClock: true})
	a := e.start(nil)
	conf := e.create("alice", 50)
	if err := a.st.update(t.Context(), conf, func(r *record) error { r.Members["x"] = &member{State: contract.MemberInvited}; return nil }); err != nil {
		t.Fatal(err)
	}
	stale, rev, ok := a.st.latest(conf)
	if !ok {
		t.Fatal("own write not kept")
	}
	// Another writer changes the record behind the cache's back.
	b := e.start(nil)
	if err := b.st.update(t.Context(), conf, func(r *record) error { r.Members["y"] = &member{State: contract.MemberInvited}; return nil }); err != nil {
		t.Fatal(err)
	}
	// a's watcher drops the cached record when it sees b's write
	// (forgetBefore); once it has, the stale one put back below stays for
	// the update to start from.
	testkit.Eventually(t, "a's view sees b's write", 10*time.Second, func() bool {
		_, seen, ok := a.st.latest(conf)
		return !ok || seen > rev
	})
	a.st.cmu.Lock()
	a.st.cache[conf] = cachedRecord{rev: rev, r: stale} // as if a's watcher had not seen b's write yet
	a.st.cmu.Unlock()
	if err := a.st.update(t.Context(), conf, func(r *record) error { r.Members["z"] = &member{State: contract.MemberInvited}; return nil }); err != nil {
		t.Fatal(err)
	}
	r, _, err := a.st.getFromLeader(t.Context(), conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"x", "y", "z"} {
		if r.Members[id] == nil {
			t.Errorf("member %s lost: %v", id, states(r))
		}
	}
	if testCounter(a.met.conflicts) == 0 {
		t.Error("the stale write was not refused")
	}
}
