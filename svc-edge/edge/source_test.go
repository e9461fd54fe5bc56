package edge

import (
	"net/http"
	"testing"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// X-Forwarded-For is believed only from trusted proxies, read from the
// nearest hop; a client cannot name its own source address.
func TestSourceAddr(t *testing.T) {
	trusted, err := parsePrefixes("10.0.0.0/8, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, remote, xff, want string }{
		{"direct", "203.0.113.5:4000", "", "203.0.113.5"},
		{"direct, forged header", "203.0.113.5:4000", "198.51.100.9", "203.0.113.5"},
		{"through a trusted proxy", "10.1.2.3:4000", "198.51.100.9", "198.51.100.9"},
		{"client-sent header before the proxy's", "10.1.2.3:4000", "1.2.3.4, 198.51.100.9", "198.51.100.9"},
		{"two trusted hops", "192.0.2.1:4000", "198.51.100.9, 10.9.9.9", "198.51.100.9"},
		{"malformed hop", "10.1.2.3:4000", "garbage", "10.1.2.3"},
		{"trusted proxy, no header", "10.1.2.3:4000", "", "10.1.2.3"},
		{"IPv4-mapped IPv6", "[::ffff:203.0.113.5]:4000", "", "203.0.113.5"},
		{"IPv6", "[2001:db8::1]:4000", "", "2001:db8::1"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := sourceAddr(r, trusted); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := parsePrefixes("10.0.0.0/8,nope"); err == nil {
		t.Error("a bad entry was accepted")
	}
}

// The source address travels to the conference service in its header.
func TestSourceHeader(t *testing.T) {
	e := newEnv(t)
	got := make(chan string, 1)
	e.rsp.handle(contract.MethodCreateConf, func(m *nats.Msg) (any, *contract.Error) {
		got <- m.Header.Get(contract.HeaderSource)
		return "1234", nil
	})
	ed := e.edge(nil)
	c, _, err := websocket.DefaultDialer.Dial(ed.url+"/client/alice", http.Header{"X-Forwarded-For": {"198.51.100.9"}})
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, c: c}
	defer c.Close()
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"CreateConf","params":[]}`)
	cl.response("1", true)
	if s := <-got; s != "127.0.0.1" {
		t.Fatalf("source %q, want the peer 127.0.0.1 (the header comes from an untrusted peer)", s)
	}
}
