package edge

import (
	"bufio"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
)

// A client that answers the edge's pings stays connected well past
// PingInterval+PongWait, and its requests still work (the reader switches
// between its own pong handling and gorilla's at frame boundaries).
func TestKeepAliveAnswered(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.PingInterval = 50 * time.Millisecond; c.PongWait = 100 * time.Millisecond })
	c, err := dialErr(ed.url, "alive", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pings atomic.Int32
	c.SetPingHandler(func(data string) error {
		pings.Add(1)
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	msgs := make(chan string, 16)
	go func() { // reads, so pings are answered
		defer close(msgs)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			msgs <- string(data)
		}
	}()
	for i := 1; i <= 3; i++ {
		time.Sleep(200 * time.Millisecond)
		// An unsolicited pong with a payload, then a request: both frame kinds
		// in a row.
		if err := c.WriteControl(websocket.PongMessage, []byte("unsolicited"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":7,"method":"QueryConfState","params":["1234"]}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("connection closed")
			}
			if !strings.Contains(m, `"id":7`) {
				t.Fatalf("got %s", m)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no response")
		}
	}
	if n := pings.Load(); n < 3 { // 12 due; the machine may be busy
		t.Errorf("%d pings in 600 ms at a 50 ms interval", n)
	}
}

// A client that does not answer pings is closed with CloseNoPong.
func TestKeepAliveUnanswered(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.PingInterval = 100 * time.Millisecond; c.PongWait = 200 * time.Millisecond })
	start := time.Now()
	cl := dial(t, ed.url, "mute", "")
	var pings atomic.Int32
	cl.c.SetPingHandler(func(string) error { pings.Add(1); return nil })
	if code := cl.closeCode(5 * time.Second); code != contract.CloseNoPong {
		t.Fatalf("close code %d, want %d (after %s)", code, contract.CloseNoPong, time.Since(start))
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("closed after %s, before PingInterval+PongWait", d)
	}
	if pings.Load() == 0 {
		t.Error("no ping received")
	}
}

// pongFrame takes only whole, masked, final pong frames with a short
// payload; everything else is left to gorilla.
func TestPongFrame(t *testing.T) {
	mask := "\x01\x02\x03\x04"
	for _, tc := range []struct {
		name string
		in   string
		want int
	}{
		{"empty pong", "\x8a\x80" + mask, 6},
		{"pong with payload", "\x8a\x82" + mask + "hi", 8},
		{"pong then text", "\x8a\x80" + mask + "\x81\x80" + mask, 6},
		{"unmasked pong", "\x8a\x00", 0},
		{"pong without FIN", "\x0a\x80" + mask, 0},
		{"pong with RSV1", "\xca\x80" + mask, 0},
		{"pong, 16-bit length", "\x8a\xfe\x00\x7e" + mask, 0},
		{"ping", "\x89\x80" + mask, 0},
		{"text", "\x81\x82" + mask + "{}", 0},
		{"close", "\x88\x80" + mask, 0},
	} {
		n, err := pongFrame(bufio.NewReader(strings.NewReader(tc.in)))
		if err != nil || n != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, n, err, tc.want)
		}
	}
	// A pong cut short is an error (the peer went away mid-frame).
	if _, err := pongFrame(bufio.NewReader(strings.NewReader("\x8a\x82" + mask + "h"))); err == nil {
		t.Error("truncated pong: no error")
	}
}

// The wheel pings every connected session once per turn (PingInterval),
// the first time after half to all of a turn, and forgets sessions that
// ended or were replaced when their slot comes round.
func TestPingWheel(t *testing.T) {
	cfg := Config{PingInterval: 30 * time.Second, PongWait: 15 * time.Second}
	srv := &Server{sessions: map[string]*session{}, wheel: newPingWheel(cfg)}
	n := len(srv.wheel.slots)
	if srv.wheel.tick != 100*time.Millisecond || n != 300 {
		t.Fatalf("tick %s, %d slots; want 100ms, 300", srv.wheel.tick, n)
	}
	const conns = 1000
	all := make([]*session, conns)
	for i := range all {
		s := &session{clientID: fmt.Sprint("c", i)}
		all[i] = s
		srv.mu.Lock()
		srv.wheel.place(s, uint64(i)*7919)
		srv.sessions[s.clientID] = s
		srv.mu.Unlock()
	}
	pinged := map[*session][]int{}
	var due []*session
	turn := func(from int) {
		for tick := from; tick < from+n; tick++ {
			due = srv.turnWheel(due[:0])
			for _, s := range due {
				pinged[s] = append(pinged[s], tick)
			}
		}
	}
	turn(0)
	for _, s := range all {
		if p := pinged[s]; len(p) != 1 || p[0] < n/2-1 || p[0] >= n {
			t.Fatalf("%s first pinged at ticks %v of a %d-tick turn", s.clientID, p, n)
		}
	}
	// End half of the sessions (disconnected) and replace one (a newer
	// connection of the same client id).
	srv.mu.Lock()
	for _, s := range all[:conns/2] {
		delete(srv.sessions, s.clientID)
	}
	newer := &session{clientID: all[conns-1].clientID}
	srv.sessions[newer.clientID] = newer
	srv.wheel.place(newer, 1)
	srv.mu.Unlock()
	clear(pinged)
	turn(n)
	for i, s := range all {
		want := 1
		if i < conns/2 || i == conns-1 {
			want = 0
		}
		if got := len(pinged[s]); got != want {
			t.Fatalf("%s (ended: %v) pinged %d times in a turn, want %d", s.clientID, want == 0, got, want)
		}
	}
	if len(pinged[newer]) != 1 {
		t.Fatalf("the newer connection was pinged %d times in a turn", len(pinged[newer]))
	}
	held := 0
	for _, slot := range srv.wheel.slots {
		held += len(slot)
	}
	if held != conns/2 {
		t.Errorf("the wheel holds %d sessions after a turn, want the %d connected", held, conns/2)
	}
}
