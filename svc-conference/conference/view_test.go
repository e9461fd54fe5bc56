package conference

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// entry is a jetstream.KeyValueEntry for driving confView.apply directly.
type entry struct {
	jetstream.KeyValueEntry
	key   string
	rev   uint64
	value []byte
	op    jetstream.KeyValueOp
}

func (e entry) Key() string                     { return e.key }
func (e entry) Revision() uint64                { return e.rev }
func (e entry) Value() []byte                   { return e.value }
func (e entry) Operation() jetstream.KeyValueOp { return e.op }

func put(key string, rev uint64, state int) entry {
	b, _ := json.Marshal(record{V: 1, ConfID: key, Owner: "alice", State: state})
	return entry{key: key, rev: rev, value: b, op: jetstream.KeyValuePut}
}

func del(key string, rev uint64) entry {
	return entry{key: key, rev: rev, op: jetstream.KeyValueDelete}
}

// unitView is a confView without a watcher: the test applies entries.
func unitView(max int) *confView {
	v := &confView{max: max, recs: map[string]*record{}, pending: map[string]ownWrite{}, log: zerolog.Nop(),
		decode: func(_ string, _ uint64, b []byte) (*record, error) { return decodeRecord(b) },
		hits:   prometheus.NewCounter(prometheus.CounterOpts{Name: "h"}), misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "m"})}
	v.synced.Store(true)
	return v
}

func TestViewLookup(t *testing.T) {
	v := unitView(3)
	check := func(what, key string, wantOK bool, wantState int) {
		t.Helper()
		r, ok := v.lookup(key)
		switch {
		case ok != wantOK:
			t.Fatalf("%s: ok %v, want %v", what, ok, wantOK)
		case ok && wantState < 0 && r != nil:
			t.Fatalf("%s: record %+v, want none", what, r)
		case ok && wantState >= 0 && (r == nil || r.State != wantState):
			t.Fatalf("%s: record %+v, want state %d", what, r, wantState)
		}
	}
	v.apply(put("1000", 5, 0))
	check("watched put", "1000", true, 0)
	check("absent key", "2000", true, -1)

	// Read your own writes: a write of this instance not yet delivered
	// sends the reader to the KV, for that key only.
	v.wrote("1000", 7)
	check("own write pending", "1000", false, 0)
	v.apply(put("3000", 6, 0))
	check("still pending after another key", "1000", false, 0)
	check("other key unaffected", "3000", true, 0)
	v.apply(put("1000", 7, 1))
	check("own write delivered", "1000", true, 1)
	if len(v.pending) != 0 {
		t.Fatalf("pending %v", v.pending)
	}
	// A write the watcher delivered before wrote was called is not pending.
	v.apply(put("1000", 8, 2))
	v.wrote("1000", 8)
	check("delivered before registered", "1000", true, 2)

	// Own delete: pending until the watcher delivers the delete marker.
	v.deleted("1000", 8)
	check("own delete pending", "1000", false, 0)
	v.apply(put("3000", 9, 1))
	check("own delete still pending", "1000", false, 0)
	v.apply(del("1000", 10))
	check("own delete delivered", "1000", true, -1)
	// A delete delivered before deleted was called is not pending.
	v.apply(put("4000", 11, 0))
	v.apply(del("4000", 12))
	v.deleted("4000", 11)
	check("delete delivered before registered", "4000", true, -1)
	if len(v.pending) != 0 {
		t.Fatalf("pending %v", v.pending)
	}

	// An undecodable record is not served; the next change is.
	v.apply(entry{key: "3000", rev: 13, value: []byte("{"), op: jetstream.KeyValuePut})
	check("undecodable", "3000", false, 0)
	v.apply(put("3000", 14, 2))
	check("decodable again", "3000", true, 2)

	// Bounded: beyond max records, absences are no longer authoritative.
	v.apply(put("5000", 15, 0))
	v.apply(put("6000", 16, 0))
	v.apply(put("7000", 17, 0))
	if n := v.size(); n != 3 {
		t.Fatalf("size %d, want 3", n)
	}
	check("left out", "7000", false, 0)
	check("held", "5000", true, 0)

	// Not in sync: nothing is answered.
	v.synced.Store(false)
	check("not synced", "5000", false, 0)
}

// TestViewFollowsKV: the service's view takes writes made by others (here
// straight into the bucket), including deletions, and answers the read
// methods from memory.
func TestViewFollowsKV(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(nil)
	confID := e.create("alice", 10)
	kv, err := e.js.KeyValue(context.Background(), contract.ConfBucket)
	if err != nil {
		t.Fatal(err)
	}
	hits := svc.met.viewReads.WithLabelValues("hit")
	// Right after the create the view may not have its own write yet
	// (the read then goes to the KV); once it has, reads are hits.
	testkit.Eventually(t, "QueryConfState answered from the view", 10*time.Second, func() bool {
		h0 := testCounter(hits)
		var st contract.ConfState
		mustJSON(t, e.must(contract.MethodQueryConfState, "alice", contract.ConfRequest{ConfID: confID}), &st)
		if st.State != contract.StateWaiting || st.Count != 0 {
			t.Fatalf("state %+v", st)
		}
		return testCounter(hits) > h0
	})

	// Another instance's write: two members joined.
	ent, err := kv.Get(context.Background(), confID)
	if err != nil {
		t.Fatal(err)
	}
	var r record
	mustJSON(t, ent.Value(), &r)
	r.State = contract.StateActive
	r.Members = map[string]*member{
		"a0000000000000000000000000000001": {Number: "13812345678", State: contract.MemberJoined},
		"a0000000000000000000000000000002": {Number: "13812345679", State: contract.MemberJoined},
	}
	b, _ := json.Marshal(r)
	if _, err := kv.Update(context.Background(), confID, b, ent.Revision()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "view sees the other write", 10*time.Second, func() bool {
		var st contract.ConfState
		mustJSON(t, e.must(contract.MethodQueryConfState, "alice", contract.ConfRequest{ConfID: confID}), &st)
		return st.State == contract.StateActive && st.Count == 2
	})
	if c := e.getConf("alice", confID); c.Count != 2 || len(c.Members) != 2 {
		t.Fatalf("GetConf %+v", c)
	}
	e.must(contract.MethodAuthorizeWatch, "alice", contract.ConfRequest{ConfID: confID})
	e.fails(contract.CodeForbidden, contract.MethodAuthorizeWatch, hdr("bob"), contract.ConfRequest{ConfID: confID})
	e.fails(contract.CodeForbidden, contract.MethodGetConf, hdr("bob"), contract.ConfRequest{ConfID: confID})
	e.fails(contract.CodeForbidden, contract.MethodQueryConfState, hdr("bob"), contract.ConfRequest{ConfID: confID})

	// Deleted by someone else: gone from the view, and not found.
	if err := kv.Delete(context.Background(), confID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "view sees the delete", 10*time.Second, func() bool {
		_, cerr := e.call(contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: confID})
		return cerr != nil && cerr.Code == contract.CodeConfNotFound
	})
	e.fails(contract.CodeConfNotFound, contract.MethodAuthorizeWatch, hdr("alice"), contract.ConfRequest{ConfID: confID})
	if n := svc.st.view.size(); n != 0 {
		t.Fatalf("view holds %d records", n)
	}
}

// TestViewReadYourWrites: what a client was told it wrote, its next read
// shows, on the same instance (own writes are tracked) and, for a record
// just created, on another one (an absence is confirmed with the KV).
func TestViewReadYourWrites(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)
	e.start(nil) // a second instance: requests spread over both
	for i := range 20 {
		client := fmt.Sprintf("c%d", i)
		confID := e.create(client, 10)
		// The edge's AuthorizeWatch right after CreateConf, on any instance.
		e.must(contract.MethodAuthorizeWatch, client, contract.ConfRequest{ConfID: confID})
		var st contract.ConfState
		mustJSON(t, e.must(contract.MethodQueryConfState, client, contract.ConfRequest{ConfID: confID}), &st)
		if st.State != contract.StateWaiting {
			t.Fatalf("state %+v", st)
		}
	}

	// One instance: an invitation, then reads at once.
	e2 := newEnv(t, envOpts{})
	e2.start(nil)
	confID := e2.create("alice", 50)
	for i := range 30 {
		callID := e2.invite("alice", confID, fmt.Sprintf("138%08d", i))
		c := e2.getConf("alice", confID)
		if _, ok := findMember(c, callID); !ok || len(c.Members) != i+1 {
			t.Fatalf("invite %d: GetConf right after has %d members, lacks %s", i, len(c.Members), callID)
		}
	}
	// DismissConf (state ending), then QueryConfState at once.
	e2.must(contract.MethodDismissConf, "alice", contract.ConfRequest{ConfID: confID})
	var st contract.ConfState
	mustJSON(t, e2.must(contract.MethodQueryConfState, "alice", contract.ConfRequest{ConfID: confID}), &st)
	if st.State != contract.StateEnding {
		t.Fatalf("after DismissConf: %+v", st)
	}
	// The deleted event removes the record; GetConf then says so.
	e2.publishEvent(contract.Event{Kind: contract.KindDeleted, ConfID: confID, Time: "20261128120500"})
	testkit.Eventually(t, "record removed", 10*time.Second, func() bool {
		_, cerr := e2.call(contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: confID})
		return cerr != nil && cerr.Code == contract.CodeConfNotFound
	})
}

// TestViewRestart: a new instance's view starts from the bucket's current
// values (including what was deleted meanwhile), and stops with Stop
// (TestMain checks for leftover goroutines).
func TestViewRestart(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(nil)
	conf1 := e.create("alice", 10)
	conf2 := e.create("alice", 10)
	e.invite("alice", conf1, "13812345678")
	before := e.getConf("alice", conf1)
	svc.Stop()
	kv, err := e.js.KeyValue(context.Background(), contract.ConfBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), conf2); err != nil {
		t.Fatal(err)
	}
	svc = e.start(nil)
	if n := svc.st.view.size(); n != 1 {
		t.Fatalf("view after restart holds %d records, want 1", n)
	}
	if r, ok := svc.st.view.lookup(conf1); !ok || r == nil {
		t.Fatalf("view lookup after restart: %v %v", r, ok)
	}
	if got := e.getConf("alice", conf1); !sameConf(got, before) {
		t.Fatalf("after restart %+v, want %+v", got, before)
	}
	e.fails(contract.CodeConfNotFound, contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: conf2})
	// The view off: the same answers from the KV.
	svc.Stop()
	svc = e.start(func(c *Config) { c.ViewMaxRecords = 0 })
	if svc.st.view != nil {
		t.Fatal("view on")
	}
	if got := e.getConf("alice", conf1); !sameConf(got, before) {
		t.Fatalf("view off %+v, want %+v", got, before)
	}
	// Stop again is a no-op (the view is stopped once).
	svc.Stop()
	done := make(chan struct{})
	go func() { svc.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("second Stop hangs")
	}
}

// TestFastReadParsing: the inline path's parsers agree with the strict
// ones on what they accept, and hand everything else on.
func TestFastReadParsing(t *testing.T) {
	for body, want := range map[string]string{
		`{"confid":"60008165"}`:         "60008165",
		` { "confid" : "1234" } `:       "1234",
		"{\n\"confid\":\"12345678\"\n}": "12345678",
		`{"confid":"123"}`:              "",
		`{"confid":"123456789"}`:        "",
		`{"confid":"12a4"}`:             "",
		`{"confid":"1234","x":1}`:       "",
		`{"confid":"1234"}x`:            "",
		`{"confid":1234}`:               "",
		`{"CONFID":"1234"}`:             "",
		`{"confid":"1234"`:              "",
		``:                              "",
	} {
		got, ok := confIDBody([]byte(body))
		if ok != (want != "") || ok && string(got) != want {
			t.Errorf("confIDBody(%q) = %q %v, want %q", body, got, ok, want)
		}
	}
	for _, st := range []contract.ConfState{{State: 0, Count: 0}, {State: 2, Count: 300}} {
		want, _ := json.Marshal(st)
		if got := appendConfState(nil, st.State, st.Count); string(got) != string(want) {
			t.Errorf("appendConfState %s, want %s", got, want)
		}
	}
}

// TestViewSurvivesNATSRestart: after NATS restarts (same store) the view
// follows the bucket again, it does not silently fall back to KV reads.
func TestViewSurvivesNATSRestart(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(nil)
	confID := e.create("alice", 10)
	e.ns.Restart()
	testkit.Eventually(t, "reconnected", 10*time.Second, func() bool { return e.nc.IsConnected() })
	testkit.Eventually(t, "service answers again", 10*time.Second, func() bool {
		_, err := e.nc.Request(contract.ServiceSubject(contract.MethodListOwned), nil, time.Second)
		return err == nil
	})
	kv, err := e.js.KeyValue(context.Background(), contract.ConfBucket)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := kv.Get(context.Background(), confID)
	if err != nil {
		t.Fatal(err)
	}
	var r record
	mustJSON(t, ent.Value(), &r)
	r.State = contract.StateActive
	b, _ := json.Marshal(r)
	if _, err := kv.Update(context.Background(), confID, b, ent.Revision()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "view follows after the restart", 10*time.Second, func() bool {
		r, ok := svc.st.view.lookup(confID)
		return ok && r != nil && r.State == contract.StateActive
	})
}
