package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/eventlog"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ownedBy makes ListOwned answer confs for clientID.
func (e *env) ownedBy(owned map[string][]string) {
	e.rsp.handle(contract.MethodListOwned, func(m *nats.Msg) (any, *contract.Error) {
		l := owned[m.Header.Get(contract.HeaderClientID)]
		if l == nil {
			l = []string{}
		}
		return l, nil
	})
}

func wantSeqs(t *testing.T, who string, got []msg, from uint64) {
	t.Helper()
	for i, m := range got {
		if m.seq() != from+uint64(i) || m.param("confid") == "" {
			t.Fatalf("%s: event %d is %s, want seq %d", who, i, m.raw, from+uint64(i))
		}
	}
}

// Watchers on one edge and on another each get every event exactly once, in
// order; an edge holds one subscription per conference; a publish the stream
// refused (seen by core subscribers) is never delivered.
func TestFanOutWatchersGetEveryEventOnce(t *testing.T) {
	e := newEnv(t)
	e.ownedBy(map[string][]string{"owner": {"1234"}})
	ed1, ed2 := e.edge(nil), e.edge(nil)
	owner := dial(t, ed1.url, "owner", "")
	if m := owner.notification(contract.NotifyWatch); m.param("confid") != "1234" || m.seq() != 0 {
		t.Fatalf("OnConfWatch: %s", m.raw)
	}
	var watchers []*client
	for i, url := range []string{ed1.url, ed2.url} {
		w := dial(t, url, fmt.Sprintf("watcher%d", i), "")
		w.send(`{"jsonrpc":"2.0","id":1,"method":"WatchConf","params":["1234"]}`)
		if m := w.response("1", true); string(m.Result) != `{"confid":"1234","seq":0}` {
			t.Fatalf("WatchConf: %s", m.raw)
		}
		watchers = append(watchers, w)
	}
	if n := ed1.srv.hub.subscriptions(); n != 1 {
		t.Fatalf("edge 1 holds %d subscriptions, want 1", n)
	}
	kinds := []string{contract.KindCreated, contract.KindInvite, contract.KindJoined, contract.KindQuit, contract.KindDeleted}
	for i, k := range kinds {
		e.publish("1234", uint64(i+1), k)
	}
	// A publish JetStream refuses (wrong expected last sequence): core NATS
	// subscribers see it, browsers must not.
	phantom, _ := json.Marshal(contract.Event{Kind: contract.KindDismissed, ConfID: "1234", Seq: 6})
	if _, err := e.js.Publish(context.Background(), contract.EventsSubject("1234"), phantom, jetstream.WithExpectLastSequencePerSubject(1)); err == nil {
		t.Fatal("phantom publish was stored")
	}
	e.publish("1234", 6, contract.KindMedia)
	wantMethods := []string{contract.NotifyCreate, contract.NotifyInviteJoin, contract.NotifyInviteJoin, contract.NotifyQuit, contract.NotifyDel, contract.NotifyMedia}
	for i, cl := range append([]*client{owner}, watchers...) {
		got := cl.events(6)
		wantSeqs(t, fmt.Sprint("client ", i), got, 1)
		for j, m := range got {
			if m.Method != wantMethods[j] {
				t.Fatalf("client %d event %d: %s, want %s", i, j, m.raw, wantMethods[j])
			}
		}
		// Nothing else (no duplicate, no phantom): the next message is the
		// response to this request.
		cl.send(`{"jsonrpc":"2.0","id":"end","method":"QueryConfState","params":["1234"]}`)
		if m := cl.mustRead(); string(m.ID) != `"end"` {
			t.Fatalf("client %d: unexpected %s", i, m.raw)
		}
	}
}

// A browser that was away while 5 events happened reconnects to another
// edge with ?resume and gets exactly those 5, in order, then live ones.
func TestResumeOnSecondEdge(t *testing.T) {
	e := newEnv(t)
	e.ownedBy(map[string][]string{"r": {"2222"}})
	ed1, ed2 := e.edge(nil), e.edge(nil)
	cl := dial(t, ed1.url, "r", "")
	for s := uint64(1); s <= 3; s++ {
		e.publish("2222", s, contract.KindInvite)
	}
	wantSeqs(t, "first connection", cl.events(3), 1)
	cl.c.Close()
	testkit.Eventually(t, "edge 1 to drop the session", 3*time.Second, func() bool { return ed1.srv.hub.subscriptions() == 0 })
	for s := uint64(4); s <= 8; s++ {
		e.publish("2222", s, contract.KindJoined)
	}
	cl2 := dial(t, ed2.url, "r", "resume=2222:3")
	if m := cl2.notification(contract.NotifyWatch); m.seq() != 8 {
		t.Fatalf("OnConfWatch: %s", m.raw)
	}
	wantSeqs(t, "replay", cl2.events(5), 4)
	e.publish("2222", 9, contract.KindQuit)
	wantSeqs(t, "live", cl2.events(1), 9)
	cl2.send(`{"jsonrpc":"2.0","id":"end","method":"QueryConfState","params":["2222"]}`)
	if m := cl2.mustRead(); string(m.ID) != `"end"` {
		t.Fatalf("unexpected %s", m.raw)
	}

	// WatchConf since= on a conference it does not own, with events
	// arriving during the replay.
	e.ownedBy(nil)
	cl3 := dial(t, ed1.url, "other", "")
	cl3.send(`{"jsonrpc":"2.0","id":1,"method":"WatchConf","params":{"confid":"2222","since":6}}`)
	for s := uint64(10); s <= 12; s++ {
		e.publish("2222", s, contract.KindJoined)
	}
	if m := cl3.response("1", false); m.Error != nil {
		t.Fatalf("WatchConf: %s", m.raw)
	}
	wantSeqs(t, "WatchConf since 6", cl3.events(6), 7)
}

// When the stream no longer holds what a browser asks for, it is told with
// OnConfEventsLost, and delivery continues; a hole in live delivery too.
func TestEventsLost(t *testing.T) {
	e := newEnv(t)
	e.ownedBy(map[string][]string{"g": {"3333"}})
	ed := e.edge(nil)
	var streamSeqs []uint64
	for s := uint64(1); s <= 5; s++ {
		e.publish("3333", s, contract.KindJoined)
		m, err := e.st.GetLastMsgForSubject(context.Background(), contract.EventsSubject("3333"))
		if err != nil {
			t.Fatal(err)
		}
		streamSeqs = append(streamSeqs, m.Sequence)
	}
	for _, sq := range streamSeqs[:3] { // seq 1..3 aged out
		if err := e.st.DeleteMsg(context.Background(), sq); err != nil {
			t.Fatal(err)
		}
	}
	cl := dial(t, ed.url, "g", "resume=3333:1")
	m := cl.notification(contract.NotifyEventsLost)
	if m.param("confid") != "3333" || m.param("from") != "2" || m.param("to") != "3" {
		t.Fatalf("OnConfEventsLost: %s", m.raw)
	}
	wantSeqs(t, "after the gap", cl.events(2), 4)
	e.publish("3333", 8, contract.KindQuit) // 6 and 7 never stored
	m = cl.notification(contract.NotifyEventsLost)
	if m.param("from") != "6" || m.param("to") != "7" {
		t.Fatalf("live gap: %s", m.raw)
	}
	wantSeqs(t, "after the live gap", cl.events(1), 8)
}

// CreateConf's reply and ownership notices from other edges start watches;
// UnwatchConf stops one; WatchConf is authorized by the service.
func TestAutoWatchAndUnwatch(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(nil)
	e.rsp.handle(contract.MethodCreateConf, func(*nats.Msg) (any, *contract.Error) { return "5555", nil })
	e.rsp.handle(contract.MethodAuthorizeWatch, func(m *nats.Msg) (any, *contract.Error) {
		return nil, contract.Errorf(contract.CodeForbidden, "not your conference")
	})
	cl := dial(t, ed.url, "creator", "")
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"CreateConf"}`)
	if m := cl.mustRead(); string(m.Result) != `"5555"` {
		t.Fatalf("CreateConf: %s", m.raw)
	}
	if m := cl.mustRead(); m.Method != contract.NotifyWatch || m.param("confid") != "5555" {
		t.Fatalf("after CreateConf: %s", m.raw)
	}
	e.publish("5555", 1, contract.KindCreated)
	wantSeqs(t, "created", cl.events(1), 1)

	b, _ := json.Marshal(contract.OwnedNotice{ConfID: "6666"})
	if err := e.nc.Publish(contract.OwnedSubjectPrefix+"creator", b); err != nil {
		t.Fatal(err)
	}
	if m := cl.mustRead(); m.Method != contract.NotifyWatch || m.param("confid") != "6666" {
		t.Fatalf("after owned notice: %s", m.raw)
	}
	cl.send(`{"jsonrpc":"2.0","id":2,"method":"UnwatchConf","params":["5555"]}`)
	if m := cl.mustRead(); string(m.ID) != "2" || string(m.Result) != "null" {
		t.Fatalf("UnwatchConf: %s", m.raw)
	}
	e.publish("5555", 2, contract.KindJoined)
	e.publish("6666", 1, contract.KindCreated)
	if m := cl.events(1)[0]; m.param("confid") != "6666" {
		t.Fatalf("event of an unwatched conference: %s", m.raw)
	}
	cl.send(`{"jsonrpc":"2.0","id":3,"method":"WatchConf","params":["7777"]}`)
	if m := cl.mustRead(); m.Error == nil || m.Error.Code != 1003 {
		t.Fatalf("WatchConf not authorized: %s", m.raw)
	}
	if n := ed.srv.hub.subscriptions(); n != 1 {
		t.Fatalf("%d subscriptions, want 1 (6666)", n)
	}
}

// Events stored while an edge was disconnected from NATS reach its watchers
// once it reconnects.
func TestResyncAfterNATSRestart(t *testing.T) {
	e := newEnv(t)
	e.ownedBy(map[string][]string{"rs": {"8888"}})
	ed := e.edge(nil)
	cl := dial(t, ed.url, "rs", "")
	e.publish("8888", 1, contract.KindCreated)
	wantSeqs(t, "before", cl.events(1), 1)

	e.ns.Restart()
	_, js2 := e.ns.ConnectJS(t)
	for s := uint64(2); s <= 3; s++ {
		b, _ := json.Marshal(contract.Event{Kind: contract.KindJoined, ConfID: "8888", Seq: s})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := js2.Publish(ctx, contract.EventsSubject("8888"), b); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	m, err := cl.read(15 * time.Second)
	for err == nil && m.Method == contract.NotifyWatch {
		m, err = cl.read(15 * time.Second)
	}
	if err != nil || m.seq() != 2 {
		t.Fatalf("after reconnect: %s %v", m.raw, err)
	}
	wantSeqs(t, "after reconnect", cl.events(1), 3)
}

// A resume from a recent seq reads only the missed events from the stream,
// not the conference's whole history.
func TestReplayStartsNearResumePoint(t *testing.T) {
	e := newEnv(t)
	e.ownedBy(map[string][]string{"a": {"4444"}, "b": {"4444"}})
	ed := e.edge(nil)
	a := dial(t, ed.url, "a", "")
	a.notification(contract.NotifyWatch)
	for s := uint64(1); s <= 60; s++ {
		e.publish("4444", s, contract.KindJoined)
	}
	wantSeqs(t, "a", a.events(60), 1)
	before := ed.srv.hub.reads.Load()
	b := dial(t, ed.url, "b", "resume=4444:57")
	wantSeqs(t, "b", b.events(3), 58)
	if n := ed.srv.hub.reads.Load() - before; n > 5 {
		t.Fatalf("resume of 3 events read %d messages from the stream", n)
	}
}

// Live events reach the watchers as the stream republishes them: none is
// read back from the stream, with or without the seq header.
func TestLiveEventsNotReadBack(t *testing.T) {
	e := newEnv(t)
	e.ownedBy(map[string][]string{"a": {"5555"}})
	ed := e.edge(nil)
	a := dial(t, ed.url, "a", "")
	a.notification(contract.NotifyWatch)
	before := ed.srv.hub.reads.Load()
	pubHeader := func(seq uint64, header string) {
		ev := contract.Event{Kind: contract.KindJoined, ConfID: "5555", CallID: "c", Number: "1", Time: "20260101120000",
			Received: time.Now().UTC(), Seq: seq}
		b, _ := json.Marshal(ev)
		m := nats.NewMsg(contract.EventsSubject("5555"))
		m.Data = b
		m.Header.Set(eventlog.HeaderSeq, header)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for s := uint64(1); s <= 20; s++ {
		switch {
		case s%5 == 0:
			pubHeader(s, "x")
		case s%2 == 0:
			pubHeader(s, strconv.FormatUint(s, 10))
		default:
			e.publish("5555", s, contract.KindJoined)
		}
		wantSeqs(t, "a", a.events(1), s)
	}
	if n := ed.srv.hub.reads.Load() - before; n != 0 {
		t.Fatalf("%d of 20 live events read back from the stream", n)
	}
}
