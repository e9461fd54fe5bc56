package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
)

// noLeak fails t when goroutines started during the test outlive it.
func noLeak(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > base {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines: %d at start, %d after cleanup\n%s", base, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func dial(t *testing.T, url, id string, opts ...Option) *Client {
	t.Helper()
	c, err := Dial(ctx(t), url, id, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns the next notification of method (skipping others).
func next(t *testing.T, c *Client, method string) Notification {
	t.Helper()
	return testkit.Receive(t, c.Notifications(), 5*time.Second, method, func(n Notification) bool { return n.Method == method })
}

func TestHelpersAndNotifications(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	c := dial(t, e.url(), "alice")

	conf, err := c.CreateConf(ctx(t))
	if err != nil || !contract.ConfIDPattern.MatchString(conf) {
		t.Fatalf("CreateConf = %q, %v", conf, err)
	}
	n := next(t, c, contract.NotifyCreate)
	if n.ConfID != conf || n.Seq != 1 || n.Received.IsZero() {
		t.Fatalf("OnConfCreate = %+v", n)
	}
	callid, err := c.InviteJoinConfWith(ctx(t), InviteParams{ConfID: conf, Number: "13800138000", IdempotencyKey: "k1"})
	if err != nil || !contract.CallIDPattern.MatchString(callid) {
		t.Fatalf("InviteJoinConf = %q, %v", callid, err)
	}
	n = next(t, c, contract.NotifyInviteJoin)
	var p struct {
		CallID string `json:"callid"`
		Number string `json:"number"`
		Result *int   `json:"result"`
	}
	if err := n.Decode(&p); err != nil || p.CallID != callid || p.Number != "13800138000" || p.Result == nil || *p.Result != 0 || n.Seq != 2 {
		t.Fatalf("OnConfInviteJoin = %+v %s (%v)", n, n.Params, err)
	}
	if !n.IsEvent() || c.LastSeq(conf) != 2 {
		t.Fatalf("LastSeq = %d", c.LastSeq(conf))
	}
	st, err := c.QueryConfState(ctx(t), conf)
	if err != nil || st != (contract.ConfState{State: 1, Count: 1}) {
		t.Fatalf("QueryConfState = %+v, %v", st, err)
	}
	if g, err := c.GetConf(ctx(t), conf); err != nil || g.ConfID != conf {
		t.Fatalf("GetConf = %+v, %v", g, err)
	}
	for _, f := range []func() error{
		func() error { return c.QuitConf(ctx(t), conf, callid) },
		func() error { return c.ConfMute(ctx(t), conf, callid) },
		func() error { return c.ConfUnMute(ctx(t), conf, callid) },
		func() error { return c.ConfRecord(ctx(t), conf) },
		func() error { return c.ConfStopRecord(ctx(t), conf) },
		func() error { return c.DismissConf(ctx(t), conf) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateConfWith(ctx(t), CreateConfParams{MaxMember: 3, IdempotencyKey: "x"}); err != nil {
		t.Fatal(err)
	}
	// Params travel as given: by position, by name, or omitted.
	for _, tc := range []struct {
		params any
		want   string
	}{
		{[]any{"a", 1}, `["a",1]`},
		{map[string]any{"confid": "1234"}, `{"confid":"1234"}`},
		{nil, `null`},
	} {
		var got json.RawMessage
		if err := c.Call(ctx(t), "Echo", tc.params, &got); err != nil || string(got) != tc.want {
			t.Errorf("Echo(%v) = %s, %v; want %s", tc.params, got, err, tc.want)
		}
	}
}

func TestRPCError(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	c := dial(t, e.url(), "bob")
	err := c.Call(ctx(t), "Fail", nil, nil)
	var re *RPCError
	if !errors.As(err, &re) || re.Code != 1008 || re.Message != "telephony platform error" || string(re.Data) != `{"statusCode":"111703"}` {
		t.Fatalf("err = %#v", err)
	}
	if re.Retryable() || re.Name() != contract.CodePlatform {
		t.Fatalf("Retryable/Name = %v %q", re.Retryable(), re.Name())
	}
	if !(&RPCError{Code: -32001}).Retryable() || (&RPCError{Code: 42}).Retryable() {
		t.Fatal("Retryable does not follow contract.Table")
	}
	_, err = c.QueryConfState(ctx(t), "9999")
	if !errors.As(err, &re) || re.Code != 1001 {
		t.Fatalf("err = %v", err)
	}
	if err := c.Call(ctx(t), "Nope", nil, nil); !errors.As(err, &re) || re.Code != -32601 {
		t.Fatalf("err = %v", err)
	}
	// A response nobody waits for (id null) is counted, not delivered.
	if err := c.WriteRaw(ctx(t), []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QueryConfState(ctx(t), "9999"); err == nil {
		t.Fatal("want error")
	}
	if s := c.Stats(); s.Unmatched != 1 {
		t.Fatalf("Unmatched = %d", s.Unmatched)
	}
}

// Calls are pipelined: a slow call does not hold up a fast one issued
// after it, and each caller gets its own answer.
func TestPipelinedConcurrentCalls(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	c := dial(t, e.url(), "carol")

	slow := make(chan error, 1)
	start := time.Now()
	go func() {
		var r int
		err := c.Call(ctx(t), "Sleep", []int{300}, &r)
		if err == nil && r != 300 {
			err = fmt.Errorf("slow result %d", r)
		}
		slow <- err
	}()
	time.Sleep(20 * time.Millisecond)
	var r int
	if err := c.Call(ctx(t), "Sleep", []int{1}, &r); err != nil || r != 1 {
		t.Fatalf("fast = %d, %v", r, err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("fast call waited for the slow one: %v", d)
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []int
			if err := c.Call(ctx(t), "Echo", []int{i}, &got); err != nil || len(got) != 1 || got[0] != i {
				t.Errorf("Echo(%d) = %v, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
}

func TestCallContextCancel(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	c := dial(t, e.url(), "dave")
	cx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Call(cx, "Sleep", []int{500}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// The late answer is dropped; the client still works.
	time.Sleep(600 * time.Millisecond)
	if _, err := c.CreateConf(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Unmatched != 1 {
		t.Fatalf("Unmatched = %d", s.Unmatched)
	}
}

// Without WithReconnect a disconnect ends the client: pending calls fail
// with ErrConnectionLost, Done closes, CloseCode says why.
func TestDisconnectWithoutReconnect(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	c := dial(t, e.url(), "erin")
	e.waitSession("erin")
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx(t), "Sleep", []int{3000}, nil) }()
	time.Sleep(50 * time.Millisecond)
	e.kick("erin", contract.CloseGoingAway)
	if err := <-errc; !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("pending call err = %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not end")
	}
	if c.CloseCode() != contract.CloseGoingAway || !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("CloseCode %d Err %v", c.CloseCode(), c.Err())
	}
	if _, ok := <-c.Notifications(); ok {
		t.Fatal("notifications not closed")
	}
	if err := c.Call(ctx(t), "Echo", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after end = %v", err)
	}
}

// Reconnecting mode: after 4001 the client reconnects with ?resume= and
// receives exactly the events it missed, in order, then live ones.
func TestReconnectResumes(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	var mu sync.Mutex
	var codes []int
	c := dial(t, e.url(), "frank", WithReconnect(), WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		WithOnDisconnect(func(code int, err error) { mu.Lock(); codes = append(codes, code); mu.Unlock() }))
	conf, err := c.CreateConf(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	next(t, c, contract.NotifyCreate)
	e.emit(conf, contract.NotifyInviteJoin, map[string]any{"callid": "a", "result": 0})
	if n := next(t, c, contract.NotifyInviteJoin); n.Seq != 2 {
		t.Fatalf("seq %d", n.Seq)
	}

	e.setRefuse(http.StatusServiceUnavailable)
	e.kick("frank", contract.CloseSlowConsumer)
	for i := 0; i < 3; i++ {
		e.emit(conf, contract.NotifyQuit, map[string]any{"callid": fmt.Sprint(i)})
	}
	time.Sleep(100 * time.Millisecond) // a few refused attempts
	e.setRefuse(0)

	// A call made while disconnected waits for the reconnect.
	if _, err := c.QueryConfState(ctx(t), conf); err != nil {
		t.Fatal(err)
	}
	for want := uint64(3); want <= 5; want++ {
		if n := next(t, c, contract.NotifyQuit); n.Seq != want {
			t.Fatalf("got seq %d, want %d", n.Seq, want)
		}
	}
	e.emit(conf, contract.NotifyDel, nil)
	if n := next(t, c, contract.NotifyDel); n.Seq != 6 {
		t.Fatalf("live seq %d", n.Seq)
	}
	rs := e.resumeParams()
	if last := rs[len(rs)-1]; last != conf+":2" {
		t.Fatalf("resume params %q", rs)
	}
	s := c.Stats()
	if s.Duplicates != 0 || s.Gaps != 0 || s.Connects != 2 || s.Disconnects != 1 {
		t.Fatalf("stats %+v", s)
	}
	if c.CloseCode() != contract.CloseSlowConsumer {
		t.Fatalf("CloseCode %d", c.CloseCode())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != 1 || codes[0] != contract.CloseSlowConsumer {
		t.Fatalf("OnDisconnect codes %v", codes)
	}
}

// 4000 (replaced) ends even a reconnecting client.
func TestReplacedDoesNotReconnect(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	c := dial(t, e.url(), "gina", WithReconnect(), WithBackoff(time.Millisecond, 5*time.Millisecond))
	e.waitSession("gina")
	c2 := dial(t, e.url(), "gina")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("replaced client did not end")
	}
	if c.CloseCode() != contract.CloseReplaced || !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("CloseCode %d Err %v", c.CloseCode(), c.Err())
	}
	if s := c.Stats(); s.Connects != 1 {
		t.Fatalf("reconnected: %+v", s)
	}
	if _, err := c2.CreateConf(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// The client rotates across URLs: when the first edge goes away, it lands
// on the second and resumes there.
func TestRotatesAcrossEdges(t *testing.T) {
	noLeak(t)
	st := newStore()
	a, b := newFakeEdge(t, st), newFakeEdge(t, st)
	c := dial(t, a.url(), "hank", WithURLs(b.url()), WithReconnect(), WithBackoff(time.Millisecond, 10*time.Millisecond))
	if u, ok := c.Connected(); !ok || u != "ws"+strings.TrimPrefix(a.url(), "http")+"/client/hank" {
		t.Fatalf("connected to %q", u)
	}
	conf, err := c.CreateConf(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	next(t, c, contract.NotifyCreate)
	a.setRefuse(http.StatusServiceUnavailable)
	a.kick("hank", contract.CloseGoingAway)
	a.emit(conf, contract.NotifyQuit, nil)
	n := next(t, c, contract.NotifyQuit)
	if n.Seq != 2 {
		t.Fatalf("seq %d", n.Seq)
	}
	if !b.connected("hank") {
		t.Fatal("not on edge b")
	}
	if u, _ := c.Connected(); u != "ws"+strings.TrimPrefix(b.url(), "http")+"/client/hank" {
		t.Fatalf("connected to %q", u)
	}
	if rs := b.resumeParams(); len(rs) != 1 || rs[0] != conf+":1" {
		t.Fatalf("resume at b: %q", rs)
	}
}

// Explicit watches are re-issued after a reconnect from the last seq.
func TestRewatchAfterReconnect(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	owner := dial(t, e.url(), "owner")
	conf, err := owner.CreateConf(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	w := dial(t, e.url(), "watcher", WithReconnect(), WithBackoff(time.Millisecond, 5*time.Millisecond), WithOperator("op"))
	r, err := w.WatchConf(ctx(t), conf, 0)
	if err != nil || r.ConfID != conf {
		t.Fatalf("WatchConf = %+v, %v", r, err)
	}
	next(t, w, contract.NotifyCreate)
	e.kick("watcher", contract.CloseServerFailure)
	deadline := time.Now().Add(5 * time.Second)
	for len(e.watchCalls()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.watchCalls(); len(got) != 2 || got[1] != conf+":1" {
		t.Fatalf("WatchConf calls %q", got)
	}
	e.emit(conf, contract.NotifyDel, nil)
	if n := next(t, w, contract.NotifyDel); n.Seq != 2 {
		t.Fatalf("seq %d", n.Seq)
	}
	if _, err := w.WatchConf(ctx(t), "1111", 0); err == nil {
		t.Fatal("want error")
	}
	w.Forget(conf)
	if len(w.ResumePoints()) != 0 {
		t.Fatalf("resume points %v", w.ResumePoints())
	}
}

func TestSeqBookkeeping(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	var mu sync.Mutex
	var got []Notification
	c := dial(t, e.url(), "ivy", WithDedupe(), WithHandler(func(n Notification) {
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
	}))
	if c.Notifications() != nil {
		t.Fatal("channel with a handler")
	}
	e.waitSession("ivy")
	for _, m := range []string{
		`{"jsonrpc":"2.0","method":"OnConfQuit","params":{"confid":"1234","seq":1}}`,
		`{"jsonrpc":"2.0","method":"OnConfQuit","params":{"confid":"1234","seq":1}}`, // duplicate: dropped
		`{"jsonrpc":"2.0","method":"OnConfQuit","params":{"confid":"1234","seq":4}}`, // gap of 2
		`{"jsonrpc":"2.0","method":"OnConfWatch","params":{"confid":"1234","seq":9}}`,
		`{"jsonrpc":"2.0","method":"OnConfEventsLost","params":{"confid":"1234","from":5,"to":7}}`,
		`{"jsonrpc":"2.0","method":"OnConfDel","params":{"confid":"1234","seq":8}}`,
		`{"jsonrpc":"2.0","method":"Odd","params":[1,2]}`,
	} {
		e.raw("ivy", m)
	}
	c.Call(ctx(t), "Echo", nil, nil) // a round trip: everything before it was read
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 6 {
		t.Fatalf("delivered %d: %+v", len(got), got)
	}
	if got[2].Method != contract.NotifyWatch || got[2].Seq != 9 || got[2].IsEvent() || got[3].Seq != 0 || got[5].Method != "Odd" {
		t.Fatalf("delivered %+v", got)
	}
	s := c.Stats()
	if s.Duplicates != 1 || s.Gaps != 2 || s.Lost != 3 || s.Notifications != 7 {
		t.Fatalf("stats %+v", s)
	}
	if c.LastSeq("1234") != 8 {
		t.Fatalf("LastSeq %d", c.LastSeq("1234"))
	}
}

func TestDialErrors(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	if _, err := Dial(ctx(t), e.url(), "bad id!"); err == nil {
		t.Fatal("bad client id accepted")
	}
	if _, err := Dial(ctx(t), "ftp://x", "ok"); err == nil {
		t.Fatal("bad scheme accepted")
	}
	e.setRefuse(http.StatusForbidden)
	_, err := Dial(ctx(t), e.url(), "ok")
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("err = %v", err)
	}
	// A refused reconnect with 403 ends a reconnecting client.
	e.setRefuse(0)
	c := dial(t, e.url(), "ok", WithReconnect(), WithBackoff(time.Millisecond, time.Millisecond))
	e.waitSession("ok")
	e.setRefuse(http.StatusForbidden)
	e.kick("ok", contract.CloseGoingAway)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not end")
	}
	if !errors.As(c.Err(), &he) {
		t.Fatalf("Err = %v", c.Err())
	}
}

// Close while the client is retrying a dead edge ends every goroutine.
func TestCloseWhileReconnecting(t *testing.T) {
	noLeak(t)
	e := newFakeEdge(t, newStore())
	c, err := Dial(ctx(t), e.url(), "jack", WithReconnect(), WithBackoff(time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e.waitSession("jack")
	e.setRefuse(http.StatusServiceUnavailable)
	e.kick("jack", contract.CloseServerFailure)
	time.Sleep(50 * time.Millisecond)
	errc := make(chan error, 1)
	go func() { errc <- c.Call(context.Background(), "Echo", nil, nil) }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting call = %v", err)
	}
	if c.Stats().Connects != 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
	c.Close() // idempotent
}

func TestClientURL(t *testing.T) {
	for in, want := range map[string]string{
		"ws://h:8080":                "ws://h:8080/client/abc",
		"http://h:8080/":             "ws://h:8080/client/abc",
		"https://h/edge":             "wss://h/edge/client/abc",
		"wss://h/client/":            "wss://h/client/abc",
		"ws://h/client?x=1":          "ws://h/client/abc?x=1",
		"ws://127.0.0.1:1/a/client":  "ws://127.0.0.1:1/a/client/abc",
		"http://[::1]:8080/x/client": "ws://[::1]:8080/x/client/abc",
	} {
		got, err := clientURL(in, "abc")
		if err != nil || got != want {
			t.Errorf("clientURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestResumeParamCapped(t *testing.T) {
	m := map[string]uint64{"0000": 0}
	for i := range MaxResume + 10 {
		m[fmt.Sprintf("%05d", 10000+i)] = uint64(i + 1)
	}
	c := &Client{lastSeq: m}
	r := c.resumeParam()
	if n := strings.Count(r, ",") + 1; n != MaxResume {
		t.Fatalf("%d items", n)
	}
	if !strings.HasPrefix(r, "10000:1,10001:2,") || strings.Contains(r, "0000:0") {
		t.Fatalf("resume %q", r[:40])
	}
}
