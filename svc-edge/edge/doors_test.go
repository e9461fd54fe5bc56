package edge

import (
	"net/http"
	"testing"
	"time"

	"confapplet/pkg/token"

	"github.com/gorilla/websocket"
)

// DNS rebinding: a page on evil.example whose name now resolves to the edge
// sends Origin and Host both evil.example. Without tokens the edge trusts
// only loopback origins (and configured ones); with tokens the serving host
// is trusted, as the page the edge serves needs.
func TestOriginRebinding(t *testing.T) {
	e := newEnv(t)
	rebound := func(url string) (*websocket.Conn, *http.Response, error) {
		d := &websocket.Dialer{}
		h := http.Header{"Origin": {"http://evil.example:8080"}}
		h.Set("Host", "evil.example:8080") // gorilla sends it as the request's Host
		return d.Dial(url+"/client/alice?token="+token.HS256("k", "alice", time.Minute), h)
	}
	open := e.edge(nil)
	if _, resp, err := rebound(open.url); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("open edge accepted a rebound origin: %v", err)
	}
	if got := counterValue(t, open.srv, "confapplet_edge_rejected_total", "origin"); got != 1 {
		t.Errorf("rejected{origin} = %v, want 1", got)
	}
	c, _, err := (&websocket.Dialer{}).Dial(open.url+"/client/alice", http.Header{"Origin": {"http://127.0.0.1:8080"}})
	if err != nil {
		t.Fatalf("loopback origin refused: %v", err)
	}
	c.Close()
	authed := e.edge(func(c *Config) { c.AuthSecret = "k"; c.InsecureNoAuth = false })
	c, _, err = rebound(authed.url)
	if err != nil {
		t.Fatalf("edge with tokens refused its own host as origin: %v", err)
	}
	c.Close()
}

// A client's own pings extend its read deadline (docs/protocol.md §1.5): a
// client that never answers the edge's pings but pings by itself stays
// connected past ping interval + pong wait.
func TestClientPingsKeepAlive(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.PingInterval = 300 * time.Millisecond; c.PongWait = 300 * time.Millisecond })
	c, err := dialErr(ed.url, "pinger", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetPingHandler(func(string) error { return nil }) // never answers the edge's pings
	// Not reading meanwhile: the edge's pings stay unanswered in the buffer.
	for range 10 { // 1.5 s, well past 600 ms
		if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)); err != nil {
			t.Fatalf("ping: %v", err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	cl := &client{t: t, c: c}
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	if r := cl.response("1", true); r.Error != nil {
		t.Fatalf("after 1.5 s of own pings: %+v", r)
	}
	if got := counterValue(t, ed.srv, "confapplet_edge_disconnects_total", "no_pong"); got != 0 {
		t.Fatalf("disconnects{no_pong} = %v", got)
	}
}
