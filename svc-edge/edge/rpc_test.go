package edge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/nats-io/nats.go"
)

// Every JSON-RPC case, over a real WebSocket.
func TestJSONRPCOverWebSocket(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(nil)
	e.rsp.handle(contract.MethodDismissConf, func(m *nats.Msg) (any, *contract.Error) {
		var r contract.ConfRequest
		_ = json.Unmarshal(m.Data, &r)
		switch r.ConfID {
		case "4040":
			return nil, contract.Errorf(contract.CodeConfNotFound, "conference 4040 not found").WithData(map[string]string{"confid": "4040"})
		case "5000":
			return nil, &contract.Error{Code: "something_new", Message: "new"}
		}
		return nil, nil
	})
	e.rsp.handle(contract.MethodInviteJoinConf, func(m *nats.Msg) (any, *contract.Error) {
		return "0123456789abcdef0123456789ABCDEF", nil
	})
	cl := dial(t, ed.url, "alice", "operator=op-token")
	const call = "0123456789abcdef0123456789ABCDEF"
	cases := []struct {
		name, in string
		id       string // response id; "" = no response expected
		code     int    // 0 = result
		result   string
		msg      string
	}{
		{"parse error", `{"jsonrpc":"2.0","id":1,`, "null", -32700, "", "parse error"},
		{"empty batch", `[]`, "null", -32600, "", "batch"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}]`, "null", -32600, "", "batch"},
		{"not an object", `"hello"`, "null", -32600, "", "object"},
		{"no version", `{"id":2,"method":"QueryConfState","params":["1234"]}`, "2", -32600, "", "jsonrpc"},
		{"wrong version", `{"jsonrpc":"1.0","id":2,"method":"QueryConfState","params":["1234"]}`, "2", -32600, "", "jsonrpc"},
		{"method not a string", `{"jsonrpc":"2.0","id":3,"method":7}`, "3", -32600, "", "method"},
		{"no method", `{"jsonrpc":"2.0","id":3}`, "3", -32600, "", "method"},
		{"bad id", `{"jsonrpc":"2.0","id":{"a":1},"method":"QueryConfState","params":["1234"]}`, "null", -32600, "", "id"},
		{"bad params", `{"jsonrpc":"2.0","id":4,"method":"QueryConfState","params":"1234"}`, "4", -32600, "", "params"},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"Nope"}`, "5", -32601, "", "Nope"},
		{"internal method", `{"jsonrpc":"2.0","id":5,"method":"ListOwned"}`, "5", -32601, "", "ListOwned"},
		{"bad confid", `{"jsonrpc":"2.0","id":6,"method":"QueryConfState","params":["12"]}`, "6", -32602, "", `"confid"`},
		{"too many", `{"jsonrpc":"2.0","id":6,"method":"QueryConfState","params":["1234","1"]}`, "6", -32602, "", "too many"},
		{"unknown named", `{"jsonrpc":"2.0","id":6,"method":"QueryConfState","params":{"confid":"1234","x":1}}`, "6", -32602, "", `"x"`},
		{"missing", `{"jsonrpc":"2.0","id":6,"method":"QuitConf","params":["1234"]}`, "6", -32602, "", `"callid"`},
		{"bad callid", `{"jsonrpc":"2.0","id":6,"method":"QuitConf","params":["1234","xyz"]}`, "6", -32602, "", `"callid"`},
		{"notification unknown method", `{"jsonrpc":"2.0","method":"Nope"}`, "", 0, "", ""},
		{"notification bad params", `{"jsonrpc":"2.0","method":"QueryConfState","params":[1]}`, "", 0, "", ""},
		{"notification ok", `{"jsonrpc":"2.0","method":"QueryConfState","params":["1234"]}`, "", 0, "", ""},
		{"positional", `{"jsonrpc":"2.0","id":7,"method":"QueryConfState","params":["1234"]}`, "7", 0, `{"state":1,"count":2}`, ""},
		{"by name", `{"jsonrpc":"2.0","id":"seven","method":"QueryConfState","params":{"confid":"1234"}}`, `"seven"`, 0, `{"state":1,"count":2}`, ""},
		{"id null answered", `{"jsonrpc":"2.0","id":null,"method":"QueryConfState","params":["1234"]}`, "null", 0, `{"state":1,"count":2}`, ""},
		{"big id kept", `{"jsonrpc":"2.0","id":98765432109876543210987654321,"method":"DismissConf","params":["1234"]}`, "98765432109876543210987654321", 0, "null", ""},
		{"fraction id kept", `{"jsonrpc":"2.0","id":0.1000,"method":"DismissConf","params":["1234"]}`, "0.1000", 0, "null", ""},
		{"invite result", `{"jsonrpc":"2.0","id":8,"method":"InviteJoinConf","params":{"confid":"1234","number":"13800138000","idempotency_key":"k1"}}`, "8", 0, `"` + call + `"`, ""},
		{"service error mapped", `{"jsonrpc":"2.0","id":9,"method":"DismissConf","params":["4040"]}`, "9", 1001, "", "4040 not found"},
		{"unknown service code", `{"jsonrpc":"2.0","id":10,"method":"DismissConf","params":["5000"]}`, "10", -32603, "", "new"},
	}
	for _, tc := range cases {
		cl.send(tc.in)
		if tc.id == "" {
			continue
		}
		m := cl.response(tc.id, true)
		if tc.code == 0 {
			if m.Error != nil || string(m.Result) != tc.result {
				t.Errorf("%s: got %s, want result %s", tc.name, m.raw, tc.result)
			}
			continue
		}
		if m.Error == nil || m.Error.Code != tc.code || !strings.Contains(m.Error.Message, tc.msg) {
			t.Errorf("%s: got %s, want code %d with %q", tc.name, m.raw, tc.code, tc.msg)
		}
	}
	// Notifications got no answer: the next message is this request's.
	cl.send(`{"jsonrpc":"2.0","id":"last","method":"DismissConf","params":["4040"]}`)
	m := cl.response(`"last"`, true)
	if string(m.Error.Data) != `{"confid":"4040"}` {
		t.Errorf("error.data = %s", m.Error.Data)
	}
	// Headers and bodies reached the service.
	for _, c := range e.rsp.callsOf(contract.MethodInviteJoinConf) {
		if c.clientID != "alice" || c.operator != "op-token" || c.deadline == "" ||
			c.body != `{"confid":"1234","number":"13800138000","idempotency_key":"k1"}` {
			t.Errorf("service saw %+v", c)
		}
	}
	if n := len(e.rsp.callsOf(contract.MethodQueryConfState)); n != 4 { // 3 requests + 1 valid notification
		t.Errorf("QueryConfState calls = %d, want 4", n)
	}
}

// One connection's requests run one at a time in order; another connection
// is not held up by it.
func TestOrderAndIsolation(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(nil)
	// A's first request is answered only after B got its answer: if B
	// waited for A, the test would time out.
	release := make(chan struct{})
	e.rsp.handle(contract.MethodQueryConfState, func(m *nats.Msg) (any, *contract.Error) {
		if strings.Contains(string(m.Data), "9999") {
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		return contract.ConfState{}, nil
	})
	a := dial(t, ed.url, "a", "")
	b := dial(t, ed.url, "b", "")
	a.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["9999"]}`)
	for i := 2; i <= 4; i++ {
		a.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"QueryConfState","params":["1111"]}`, i))
	}
	time.Sleep(20 * time.Millisecond)
	b.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["2222"]}`)
	b.response("1", true)
	close(release)
	for i := 1; i <= 4; i++ {
		a.response(fmt.Sprint(i), true)
	}
	// The service saw A's requests strictly one after the other.
	var seen []call
	for _, c := range e.rsp.callsOf(contract.MethodQueryConfState) {
		if c.clientID == "a" {
			seen = append(seen, c)
		}
	}
	if len(seen) != 4 || !strings.Contains(seen[0].body, "9999") {
		t.Fatalf("A's calls: %+v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].start.Before(seen[i-1].end) {
			t.Fatalf("request %d started before %d ended", i+1, i)
		}
	}
}

// A full queue answers -32002, never drops silently, in request order.
func TestQueueFull(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.QueueLen = 2 })
	release := make(chan struct{})
	e.rsp.handle(contract.MethodQueryConfState, func(m *nats.Msg) (any, *contract.Error) {
		if strings.Contains(string(m.Data), "9999") {
			<-release
		}
		return contract.ConfState{}, nil
	})
	cl := dial(t, ed.url, "q", "")
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["9999"]}`)
	testkit.Eventually(t, "the slow request to start", 2*time.Second, func() bool {
		return e.rsp.hasStarted(contract.MethodQueryConfState, "9999")
	})
	for i := 2; i <= 5; i++ {
		cl.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"QueryConfState","params":["1111"]}`, i))
	}
	close(release)
	for _, id := range []string{"1", "2", "3"} {
		if m := cl.response(id, true); m.Error != nil {
			t.Fatalf("request %s: %s", id, m.raw)
		}
	}
	for _, id := range []string{"4", "5"} {
		m := cl.response(id, true)
		if m.Error == nil || m.Error.Code != -32002 {
			t.Fatalf("request %s: %s, want -32002", id, m.raw)
		}
	}
}

func TestNoRespondersAndTimeout(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) {
		c.Timeouts = map[string]time.Duration{contract.MethodQueryConfState: 200 * time.Millisecond}
	})
	e.rsp.handle(contract.MethodQueryConfState, func(m *nats.Msg) (any, *contract.Error) { return errNoReply, nil })
	cl := dial(t, ed.url, "t", "")
	start := time.Now()
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	m := cl.response("1", true)
	if m.Error == nil || m.Error.Code != -32001 {
		t.Fatalf("timeout: %s", m.raw)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 4*time.Second {
		t.Fatalf("timeout after %v, want ~200ms", d)
	}

	// A NATS without any conference service: no responders, at once.
	e2 := newEnvWith(t, false)
	ed2 := e2.edge(nil)
	cl2 := dial(t, ed2.url, "n", "")
	start = time.Now()
	cl2.send(`{"jsonrpc":"2.0","id":1,"method":"GetConf","params":["1234"]}`)
	m = cl2.response("1", true)
	if m.Error == nil || m.Error.Code != -32000 {
		t.Fatalf("no responders: %s", m.raw)
	}
	if d := time.Since(start); d > 4*time.Second { // GetConf's deadline is 5 s
		t.Fatalf("no responders took %v", d)
	}
}
