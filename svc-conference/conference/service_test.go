package conference

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/ytxsim"
	"confapplet/pkg/yuntongxun"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// TestLifecycle walks every method's success path through one conference.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)

	owned := make(chan *nats.Msg, 4)
	sub, err := e.nc.ChanSubscribe(contract.OwnedSubjectPrefix+"alice", owned)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	confID := e.create("alice", 5)
	if !contract.ConfIDPattern.MatchString(confID) {
		t.Fatalf("confid %q", confID)
	}
	select {
	case m := <-owned:
		var n contract.OwnedNotice
		mustJSON(t, m.Data, &n)
		if n.ConfID != confID {
			t.Fatalf("owned notice %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no owned notice")
	}
	var ids []string
	mustJSON(t, e.must(contract.MethodListOwned, "alice", nil), &ids)
	if !slices.Equal(ids, []string{confID}) {
		t.Fatalf("ListOwned %v", ids)
	}
	mustJSON(t, e.must(contract.MethodListOwned, "bob", nil), &ids)
	if len(ids) != 0 {
		t.Fatalf("bob owns %v", ids)
	}
	if res := e.must(contract.MethodAuthorizeWatch, "alice", contract.ConfRequest{ConfID: confID}); string(res) != "null" {
		t.Fatalf("AuthorizeWatch %s", res)
	}

	var st contract.ConfState
	mustJSON(t, e.must(contract.MethodQueryConfState, "alice", contract.ConfRequest{ConfID: confID}), &st)
	if st != (contract.ConfState{State: contract.StateWaiting, Count: 0}) {
		t.Fatalf("state %+v", st)
	}

	callA := e.invite("alice", confID, "13812345678")
	if !contract.CallIDPattern.MatchString(callA) {
		t.Fatalf("callid %q", callA)
	}
	// Several numbers: the reply is the first one's call id; all ring.
	callB := e.invite("alice", confID, "13912345678#01087654321")
	c := e.getConf("alice", confID)
	if c.Owner != "alice" || c.MaxMember != 5 || len(c.Members) != 3 || c.State != contract.StateWaiting {
		t.Fatalf("conference %+v", c)
	}
	if m, ok := findMember(c, callB); !ok || m.Number != "13912345678" || m.State != contract.MemberInvited || m.Invited == "" {
		t.Fatalf("member B %+v", m)
	}
	if calls := e.sim.Calls(); len(calls) != 3 {
		t.Fatalf("sim dialled %d", len(calls))
	}

	// The platform reports A joined: the state follows.
	e.publishEvent(contract.Event{Kind: contract.KindInvite, ConfID: confID, CallID: callA, Number: "13812345678", Result: intp(0), Time: "20261128200000"})
	testkit.Eventually(t, "A joined", 10*time.Second, func() bool {
		m, _ := findMember(e.getConf("alice", confID), callA)
		return m.State == contract.MemberJoined
	})
	mustJSON(t, e.must(contract.MethodQueryConfState, "alice", contract.ConfRequest{ConfID: confID}), &st)
	if st != (contract.ConfState{State: contract.StateActive, Count: 1}) {
		t.Fatalf("state %+v", st)
	}
	e.clock.Advance(3 * time.Second) // the simulator answers A and B too

	for _, m := range []string{contract.MethodConfMute, contract.MethodConfUnMute} {
		if res := e.must(m, "alice", contract.CallRequest{ConfID: confID, CallID: callA}); string(res) != "null" {
			t.Fatalf("%s: %s", m, res)
		}
		mm, _ := findMember(e.getConf("alice", confID), callA)
		if mm.Muted != (m == contract.MethodConfMute) {
			t.Fatalf("%s: muted %v", m, mm.Muted)
		}
	}
	e.must(contract.MethodConfRecord, "alice", contract.ConfRequest{ConfID: confID})
	if !e.getConf("alice", confID).Recording {
		t.Fatal("not recording")
	}
	e.must(contract.MethodConfStopRecord, "alice", contract.ConfRequest{ConfID: confID})
	if e.getConf("alice", confID).Recording {
		t.Fatal("still recording")
	}

	if res := e.must(contract.MethodQuitConf, "alice", contract.CallRequest{ConfID: confID, CallID: callA}); string(res) != "null" {
		t.Fatalf("QuitConf %s", res)
	}
	e.publishEvent(contract.Event{Kind: contract.KindQuit, ConfID: confID, CallID: callA, Number: "13812345678", Time: "20261128200100"})
	testkit.Eventually(t, "A left", 10*time.Second, func() bool {
		m, _ := findMember(e.getConf("alice", confID), callA)
		return m.State == contract.MemberLeft && m.Left == "20261128200100"
	})

	if res := e.must(contract.MethodDismissConf, "alice", contract.ConfRequest{ConfID: confID}); string(res) != "null" {
		t.Fatalf("DismissConf %s", res)
	}
	mustJSON(t, e.must(contract.MethodQueryConfState, "alice", contract.ConfRequest{ConfID: confID}), &st)
	if st.State != contract.StateEnding {
		t.Fatalf("after dismiss: %+v", st)
	}
	e.fails(contract.CodeConfEnded, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345679"})
	e.fails(contract.CodeConfEnded, contract.MethodConfRecord, hdr("alice"), contract.ConfRequest{ConfID: confID})
	// A second dismiss is harmless.
	e.must(contract.MethodDismissConf, "alice", contract.ConfRequest{ConfID: confID})

	e.publishEvent(contract.Event{Kind: contract.KindDismissed, ConfID: confID, Status: intp(0)})
	e.publishEvent(contract.Event{Kind: contract.KindDeleted, ConfID: confID, Time: "20261128200200"})
	testkit.Eventually(t, "record removed", 10*time.Second, func() bool {
		_, cerr := e.call(contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: confID})
		return cerr != nil && cerr.Code == contract.CodeConfNotFound
	})
	// The owner index is a second write after the record's removal.
	testkit.Eventually(t, "owner index cleared", 10*time.Second, func() bool {
		mustJSON(t, e.must(contract.MethodListOwned, "alice", nil), &ids)
		return len(ids) == 0
	})
	// The platform has forgotten it too: QueryConfState says not found.
	e.fails(contract.CodeConfNotFound, contract.MethodQueryConfState, hdr("alice"), contract.ConfRequest{ConfID: confID})
}

// TestErrors covers the error path of every method.
func TestErrors(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(func(c *Config) {
		c.OperatorToken = "s3cret-operator"
		c.MaxConfsPerClient = 2
	})
	confID := e.create("alice", 3)
	callA := e.invite("alice", confID, "13812345678")
	const unknownConf, unknownCall = "99999999", "0123456789abcdef0123456789ABCDEF"

	confMethods := []string{contract.MethodDismissConf, contract.MethodGetConf, contract.MethodConfRecord,
		contract.MethodConfStopRecord, contract.MethodAuthorizeWatch}
	callMethods := []string{contract.MethodQuitConf, contract.MethodConfMute, contract.MethodConfUnMute}
	all := append(append(append([]string{}, confMethods...), callMethods...),
		contract.MethodCreateConf, contract.MethodInviteJoinConf, contract.MethodQueryConfState, contract.MethodListOwned)

	t.Run("no client id", func(t *testing.T) {
		for _, m := range all {
			e.fails(contract.CodeInvalidRequest, m, hdr(""), contract.ConfRequest{ConfID: confID})
			e.fails(contract.CodeInvalidRequest, m, hdr("bad client!"), contract.ConfRequest{ConfID: confID})
		}
	})
	t.Run("bad params", func(t *testing.T) {
		for _, m := range append(append([]string{}, confMethods...), contract.MethodQueryConfState) {
			e.fails(contract.CodeInvalidParams, m, hdr("alice"), contract.ConfRequest{ConfID: "12ab"})
			e.fails(contract.CodeInvalidParams, m, hdr("alice"), map[string]any{"confid": confID, "extra": 1})
		}
		for _, m := range callMethods {
			e.fails(contract.CodeInvalidParams, m, hdr("alice"), contract.CallRequest{ConfID: confID, CallID: "short"})
		}
		e.fails(contract.CodeInvalidParams, contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{MaxMember: 301})
		e.fails(contract.CodeInvalidParams, contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{MaxMember: 2})
		e.fails(contract.CodeInvalidParams, contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{MaxMember: 3, IdempotencyKey: "with space"})
		e.fails(contract.CodeInvalidParams, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID})
	})
	t.Run("conf not found", func(t *testing.T) {
		for _, m := range append(append([]string{}, confMethods...), contract.MethodQueryConfState) {
			e.fails(contract.CodeConfNotFound, m, hdr("alice"), contract.ConfRequest{ConfID: unknownConf})
		}
		for _, m := range callMethods {
			e.fails(contract.CodeConfNotFound, m, hdr("alice"), contract.CallRequest{ConfID: unknownConf, CallID: callA})
		}
		e.fails(contract.CodeConfNotFound, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: unknownConf, Number: "13812345678"})
	})
	t.Run("call not found", func(t *testing.T) {
		for _, m := range callMethods {
			e.fails(contract.CodeCallNotFound, m, hdr("alice"), contract.CallRequest{ConfID: confID, CallID: unknownCall})
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		for _, h := range []nats.Header{hdr("mallory"), hdr("mallory", contract.HeaderOperator, "guess")} {
			for _, m := range confMethods {
				e.fails(contract.CodeForbidden, m, h, contract.ConfRequest{ConfID: confID})
			}
			for _, m := range callMethods {
				e.fails(contract.CodeForbidden, m, h, contract.CallRequest{ConfID: confID, CallID: callA})
			}
			e.fails(contract.CodeForbidden, contract.MethodInviteJoinConf, h, contract.InviteJoinConfRequest{ConfID: confID, Number: "13912345678"})
		}
		if n := len(e.sim.Calls()); n != 1 {
			t.Fatalf("a forbidden invite dialled: %d calls", n)
		}
		// QueryConfState follows GetConf's rule.
		e.fails(contract.CodeForbidden, contract.MethodQueryConfState, hdr("mallory"), contract.ConfRequest{ConfID: confID})
	})
	t.Run("operator", func(t *testing.T) {
		op := hdr("operator-console", contract.HeaderOperator, "s3cret-operator")
		if _, cerr := e.call(contract.MethodGetConf, op, contract.ConfRequest{ConfID: confID}); cerr != nil {
			t.Fatal(cerr)
		}
		if _, cerr := e.call(contract.MethodAuthorizeWatch, op, contract.ConfRequest{ConfID: confID}); cerr != nil {
			t.Fatal(cerr)
		}
		if _, cerr := e.call(contract.MethodInviteJoinConf, op, contract.InviteJoinConfRequest{ConfID: confID, Number: "13912345678"}); cerr != nil {
			t.Fatal(cerr)
		}
	})
	t.Run("guard", func(t *testing.T) {
		cerr := e.fails(contract.CodeNumberRefused, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345670#4008123123"})
		if string(cerr.Data) != `{"number":"4008123123"}` {
			t.Fatalf("data %s", cerr.Data)
		}
		// maxmember 3: two ring, two more do not fit.
		e.fails(contract.CodeLimit, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345670#13812345671"})
		if n := len(e.sim.Calls()); n != 2 {
			t.Fatalf("refused invitations dialled: %d calls", n)
		}
		// Two live conferences per client.
		e.create("alice", 3)
		e.fails(contract.CodeLimit, contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{})
	})
	t.Run("platform error", func(t *testing.T) {
		// The simulator mutes joined members only; A still rings.
		cerr := e.fails(contract.CodePlatform, contract.MethodConfMute, hdr("alice"), contract.CallRequest{ConfID: confID, CallID: callA})
		var data contract.PlatformErrorData
		mustJSON(t, cerr.Data, &data)
		if data.StatusCode != yuntongxun.CodeMuteFailed {
			t.Fatalf("data %+v", data)
		}
	})
	t.Run("platform forgot the conference", func(t *testing.T) {
		// The platform ends the conference behind the service's back and
		// its deleted callback never comes.
		p, err := NewYTX(e.config(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.DismissConf(context.Background(), confID); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "sim forgot the conference", 10*time.Second, func() bool {
			_, err := p.QueryConfState(context.Background(), confID)
			return isPlatformNotFound(err)
		})
		e.fails(contract.CodeConfNotFound, contract.MethodInviteJoinConf, hdr("alice"), contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345672"})
		// The stale record is gone with it.
		e.fails(contract.CodeConfNotFound, contract.MethodGetConf, hdr("alice"), contract.ConfRequest{ConfID: confID})
	})
	t.Run("platform unavailable", func(t *testing.T) {
		down := newEnv(t, envOpts{})
		down.start(func(c *Config) { c.YTXBaseURL = "http://127.0.0.1:1/" + ytxsim.Version })
		cerr := down.fails(contract.CodePlatformDown, contract.MethodCreateConf, hdr("alice"), contract.CreateConfRequest{})
		if cerr.Message == "" {
			t.Fatal("no message")
		}
	})
	t.Run("deadline passed", func(t *testing.T) {
		before := len(e.sim.Calls())
		past := strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)
		e.fails(contract.CodeTimeout, contract.MethodInviteJoinConf, hdr("alice", contract.HeaderDeadline, past),
			contract.InviteJoinConfRequest{ConfID: confID, Number: "13812345673"})
		if len(e.sim.Calls()) != before {
			t.Fatal("dialled after the deadline")
		}
	})
}

// TestQueryConfStateFromState: QueryConfState answers from the state and
// follows GetConf's rule. A conference this system never created (here one
// made on the platform directly) and 500 unknown confids are conf_not_found
// without a single platform call; a non-owner is refused.
func TestQueryConfStateFromState(t *testing.T) {
	e := newEnv(t, envOpts{})
	svc := e.start(nil)
	p, err := NewYTX(e.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := p.CreateConf(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	before := platformCalls(t, svc)
	e.fails(contract.CodeConfNotFound, contract.MethodQueryConfState, hdr("anyone"), contract.ConfRequest{ConfID: elsewhere})
	for i := range 500 {
		e.fails(contract.CodeConfNotFound, contract.MethodQueryConfState, hdr("prober"), contract.ConfRequest{ConfID: fmt.Sprintf("9%07d", i)})
	}
	if n := platformCalls(t, svc) - before; n != 0 {
		t.Fatalf("%d platform calls for unknown confids, want 0", n)
	}
	confID := e.create("alice", 5)
	var st contract.ConfState
	mustJSON(t, e.must(contract.MethodQueryConfState, "alice", contract.ConfRequest{ConfID: confID}), &st)
	if st.State != contract.StateWaiting {
		t.Fatalf("state %+v", st)
	}
	e.fails(contract.CodeForbidden, contract.MethodQueryConfState, hdr("mallory"), contract.ConfRequest{ConfID: confID})
	if _, cerr := e.call(contract.MethodQueryConfState, hdr("viewer", contract.HeaderWatch, confID), contract.ConfRequest{ConfID: confID}); cerr != nil {
		t.Fatalf("with a watch grant: %v", cerr)
	}
}

// platformCalls is the number of platform requests svc made.
func platformCalls(t *testing.T, svc *Service) uint64 {
	t.Helper()
	mfs, err := svc.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == "confapplet_conference_platform_request_duration_seconds" {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// TestMicroDiscovery: the service answers $SRV.INFO with every endpoint.
func TestMicroDiscovery(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.start(nil)
	m, err := e.nc.Request("$SRV.INFO."+contract.ServiceName, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	mustJSON(t, m.Data, &info)
	if info.Name != contract.ServiceName || info.Version != contract.ServiceVersion || len(info.Endpoints) != 12 {
		t.Fatalf("info %+v", info)
	}
	for _, ep := range info.Endpoints {
		if ep.QueueGroup != contract.ServiceQueueGroup || ep.Subject != contract.ServiceSubject(ep.Name) {
			t.Fatalf("endpoint %+v", ep)
		}
	}
}
