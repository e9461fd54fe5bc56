package edge

import (
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
)

// A conference that has ended (AuthorizeWatch answers {"ended":true}) is
// replayed from the resume point, or from WatchConf's since, up to its
// last event, and then no longer watched: the edge keeps no subscription,
// and an event stored later under the confid (the platform reusing it)
// does not reach the client. A client the service refuses gets nothing.
func TestEndedConferenceReplayedThenUnwatched(t *testing.T) {
	e := newEnv(t)
	e.rsp.handle(contract.MethodAuthorizeWatch, func(m *nats.Msg) (any, *contract.Error) {
		if m.Header.Get(contract.HeaderClientID) == "owner" {
			return contract.WatchAuthorization{Ended: true}, nil
		}
		return nil, contract.Errorf(contract.CodeConfNotFound, "not found")
	})
	ed := e.edge(nil)
	for i, kind := range []string{contract.KindCreated, contract.KindJoined, contract.KindQuit, contract.KindDeleted} {
		e.publish("4545", uint64(i+1), kind)
	}
	cl := dial(t, ed.url, "owner", "resume=4545:1")
	if m := cl.notification(contract.NotifyWatch); m.param("confid") != "4545" || m.seq() != 4 {
		t.Fatalf("OnConfWatch: %s", m.raw)
	}
	evs := cl.events(3)
	wantSeqs(t, "resumed", evs, 2)
	if evs[2].Method != contract.NotifyDel {
		t.Fatalf("last replayed event: %s", evs[2].raw)
	}
	unwatched := func() bool { return ed.srv.hub.subscriptions() == 0 }
	testkit.Eventually(t, "the watch to end", 5*time.Second, unwatched)

	cl.send(`{"jsonrpc":"2.0","id":1,"method":"WatchConf","params":["4545",3]}`)
	if m := cl.response("1", false); string(m.Result) != `{"confid":"4545","seq":4}` {
		t.Fatalf("WatchConf: %s", m.raw)
	}
	wantSeqs(t, "watched", cl.events(1), 4)
	testkit.Eventually(t, "the explicit watch to end", 5*time.Second, unwatched)

	e.publish("4545", 5, contract.KindCreated)
	cl.quiet(300 * time.Millisecond)
	stranger := dial(t, ed.url, "stranger", "resume=4545:0")
	stranger.quiet(300 * time.Millisecond)
}
