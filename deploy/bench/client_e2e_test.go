package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
)

// startTestStack starts the load tool's stack for a test (skipped with
// -short); it stops when the test ends.
func startTestStack(t *testing.T) (context.Context, *stack) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	root, err := testkit.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &env{stdout: io.Discard, dir: dir, build: newBuilder(root, dir)}
	t.Cleanup(e.close)
	st, err := startStack(ctx, e, stackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, st
}

// TestClientAgainstRealStack runs pkg/client against the real processes:
// the protocol as docs/protocol.md describes it, end to end.
func TestClientAgainstRealStack(t *testing.T) {
	ctx, st := startTestStack(t)
	call := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		t.Cleanup(cancel)
		return c
	}
	next := func(c *client.Client, method string) client.Notification {
		t.Helper()
		return testkit.Receive(t, c.Notifications(), 20*time.Second, method, func(n client.Notification) bool { return n.Method == method })
	}

	a, err := client.Dial(ctx, st.edgeWS, "e2e-owner", withToken("e2e-owner"), client.WithReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	conf, err := a.CreateConf(call())
	if err != nil {
		t.Fatal(err)
	}
	if w := next(a, contract.NotifyWatch); w.ConfID != conf {
		t.Fatalf("OnConfWatch %+v", w)
	}
	if n := next(a, contract.NotifyCreate); n.ConfID != conf || n.Seq != 1 {
		t.Fatalf("OnConfCreate %+v", n)
	}
	callid, err := a.InviteJoinConfWith(call(), client.InviteParams{ConfID: conf, Number: "13912345678", IdempotencyKey: "e2e-1"})
	if err != nil || !contract.CallIDPattern.MatchString(callid) {
		t.Fatalf("InviteJoinConf %q %v", callid, err)
	}
	again, err := a.InviteJoinConfWith(call(), client.InviteParams{ConfID: conf, Number: "13912345678", IdempotencyKey: "e2e-1"})
	if err != nil || again != callid {
		t.Fatalf("idempotent retry %q %v, want %q", again, err, callid)
	}
	n := next(a, contract.NotifyInviteJoin)
	var p struct {
		CallID string `json:"callid"`
		Result int    `json:"result"`
	}
	if err := n.Decode(&p); err != nil || p.CallID != callid || p.Result != 0 || n.Seq != 2 {
		t.Fatalf("OnConfInviteJoin %s", n.Params)
	}
	// The join notification (joinurl) follows the invitation's result.
	n = next(a, contract.NotifyInviteJoin)
	if err := n.Decode(&p); err != nil || p.CallID != callid || p.Result != 0 || n.Seq != 3 {
		t.Fatalf("OnConfInviteJoin (joined) %s", n.Params)
	}
	// The conference service applies events from the stream independently
	// of the edge that delivered this notification, so its state follows
	// within milliseconds, not in lock-step (docs/protocol.md, QueryConfState).
	var s contract.ConfState
	var g *contract.Conference
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err = a.QueryConfState(call(), conf)
		if err == nil && s.Count == 1 && s.State == contract.StateActive {
			g, err = a.GetConf(call(), conf)
			if err == nil && len(g.Members) == 1 && g.Members[0].State == contract.MemberJoined && g.LastSeq >= n.Seq {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never caught up with seq %d: QueryConfState %+v, GetConf %+v, %v", n.Seq, s, g, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var re *client.RPCError
	if _, err := a.InviteJoinConf(call(), conf, "+1 555 0100"); !errors.As(err, &re) || (re.Code != 1004 && re.Code != -32602) {
		t.Fatalf("foreign number: %v", err)
	}
	if _, err := a.QueryConfState(call(), "0000"); !errors.As(err, &re) || re.Code != 1001 {
		t.Fatalf("unknown conf: %v", err)
	}
	if err := a.Call(call(), "NoSuchMethod", nil, nil); !errors.As(err, &re) || re.Code != -32601 {
		t.Fatalf("unknown method: %v", err)
	}
	// Another client may not act on it, nor watch it without the operator token.
	o, err := client.Dial(ctx, st.edgeWS, "e2e-other", withToken("e2e-other"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.DismissConf(call(), conf); !errors.As(err, &re) || re.Code != 1003 {
		t.Fatalf("foreign dismiss: %v", err)
	}
	if _, err := o.WatchConf(call(), conf, 0); !errors.As(err, &re) || re.Code != 1003 {
		t.Fatalf("foreign watch: %v", err)
	}

	// A second connection with the same client id replaces the first
	// (4000, no reconnect) and resumes after seq 1: it gets seq 2 and 3.
	b, err := client.Dial(ctx, st.edgeWS, "e2e-owner", withToken("e2e-owner"), client.WithResume(map[string]uint64{conf: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	select {
	case <-a.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("replaced client did not end")
	}
	if a.CloseCode() != contract.CloseReplaced {
		t.Fatalf("close code %d", a.CloseCode())
	}
	if w := next(b, contract.NotifyWatch); w.ConfID != conf || w.Seq < 2 {
		t.Fatalf("OnConfWatch %+v", w)
	}
	if n := next(b, contract.NotifyInviteJoin); n.Seq != 2 {
		t.Fatalf("resumed at seq %d", n.Seq)
	}
	if n := next(b, contract.NotifyInviteJoin); n.Seq != 3 {
		t.Fatalf("resumed join notification at seq %d", n.Seq)
	}
	if err := b.QuitConf(call(), conf, callid); err != nil {
		t.Fatal(err)
	}
	if n := next(b, contract.NotifyQuit); n.Seq != 4 {
		t.Fatalf("OnConfQuit seq %d", n.Seq)
	}
	if n := next(b, contract.NotifyDel); n.Seq != 5 {
		t.Fatalf("OnConfDel seq %d", n.Seq)
	}
	if s := b.Stats(); s.Duplicates != 0 || s.Gaps != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A reconnecting client follows a conference across an edge shutdown
// (1001): it reconnects to the second edge with ?resume= and gets exactly
// the events it missed, then live ones.
func TestClientReconnectsAcrossEdges(t *testing.T) {
	ctx, st := startTestStack(t)
	_, edge2, err := st.startEdge(ctx, "svc-edge-2", 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	codesc := make(chan int, 4)
	release := make(chan struct{}) // holds the reconnect until the events are stored
	a, err := client.Dial(ctx, st.edgeWS, "follow", withToken("follow"), client.WithURLs("ws"+edge2[len("http"):]),
		client.WithReconnect(), client.WithBackoff(50*time.Millisecond, time.Second),
		client.WithOnDisconnect(func(code int, err error) { codesc <- code; <-release }))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var once sync.Once
	releaseReconnect := func() { once.Do(func() { close(release) }) }
	defer releaseReconnect() // before a.Close, even when the test fails early
	cctx := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		t.Cleanup(cancel)
		return c
	}
	conf, err := a.CreateConf(cctx())
	if err != nil {
		t.Fatal(err)
	}
	wait := func(method string) client.Notification {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case n := <-a.Notifications():
				if n.Method == method && n.ConfID == conf {
					return n
				}
			case <-timeout:
				t.Fatalf("no %s", method)
			}
		}
	}
	wait(contract.NotifyCreate)

	// Another client of the same conference (an operator) acts while the
	// first one moves: the invitations' events must all reach it once.
	op, err := client.Dial(ctx, "ws"+edge2[len("http"):], "operator-1", withToken("operator-1"), client.WithOperator(benchOperator))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if _, err := op.WatchConf(cctx(), conf, 1); err != nil {
		t.Fatal(err)
	}
	st.edge.Stop(10 * time.Second) // SIGTERM: the edge closes its sessions with 1001
	select {
	case c := <-codesc:
		codes = append(codes, c)
	case <-time.After(10 * time.Second):
		t.Fatal("no disconnect")
	}
	if codes[0] != contract.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", codes[0])
	}
	for i := range 3 {
		if _, err := op.InviteJoinConf(cctx(), conf, fmt.Sprintf("1391000000%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The events are stored (the operator saw them) while the owner is away:
	// each answered invitation reports its result and its join.
	for seen := 0; seen < 6; {
		select {
		case n := <-op.Notifications():
			if n.Method == contract.NotifyInviteJoin {
				seen++
			}
		case <-time.After(20 * time.Second):
			t.Fatal("operator saw no events")
		}
	}
	if _, ok := a.Connected(); ok {
		t.Fatal("reconnected too early")
	}
	releaseReconnect()
	for range 6 {
		wait(contract.NotifyInviteJoin)
	}
	if u, ok := a.Connected(); !ok || !strings.Contains(u, edge2[len("http://"):]) {
		t.Fatalf("connected to %q", u)
	}
	if s := a.Stats(); s.Duplicates != 0 || s.Gaps != 0 || a.LastSeq(conf) != 7 {
		t.Fatalf("stats %+v, last seq %d", s, a.LastSeq(conf))
	}
}
