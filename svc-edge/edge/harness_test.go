package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/streams"
	"confapplet/pkg/testkit"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"
)

// responder is a test conference service on conference.*: each request is
// handled in its own goroutine (so a slow reply never holds up another
// connection's), by the method's handler or a default.
type responder struct {
	mu       sync.Mutex
	handlers map[string]func(m *nats.Msg) (any, *contract.Error)
	calls    []call
	started  []string // "method body", when the handler starts
}

// hasStarted reports whether a call of method whose body contains sub began.
func (r *responder) hasStarted(method, sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.started {
		if strings.HasPrefix(s, method+" ") && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

type call struct {
	method   string
	clientID string
	operator string
	deadline string
	body     string
	start    time.Time
	end      time.Time
}

func startResponder(t testing.TB, nc *nats.Conn) *responder {
	t.Helper()
	r := &responder{handlers: map[string]func(*nats.Msg) (any, *contract.Error){}}
	sub, err := nc.Subscribe(contract.ServiceSubjectPrefix+".*", func(m *nats.Msg) { go r.serve(m) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *responder) handle(method string, fn func(m *nats.Msg) (any, *contract.Error)) {
	r.mu.Lock()
	r.handlers[method] = fn
	r.mu.Unlock()
}

func (r *responder) serve(m *nats.Msg) {
	method := strings.TrimPrefix(m.Subject, contract.ServiceSubjectPrefix+".")
	c := call{method: method, clientID: m.Header.Get(contract.HeaderClientID), operator: m.Header.Get(contract.HeaderOperator),
		deadline: m.Header.Get(contract.HeaderDeadline), body: string(m.Data), start: time.Now()}
	r.mu.Lock()
	fn := r.handlers[method]
	r.started = append(r.started, method+" "+c.body)
	r.mu.Unlock()
	var res any
	var cerr *contract.Error
	switch {
	case fn != nil:
		res, cerr = fn(m)
	case method == contract.MethodListOwned:
		res = []string{}
	case method == contract.MethodQueryConfState:
		res = contract.ConfState{State: 1, Count: 2}
	}
	c.end = time.Now()
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	if res == errNoReply {
		return
	}
	reply := nats.NewMsg(m.Reply)
	if cerr != nil {
		reply.Header.Set(micro.ErrorCodeHeader, string(cerr.Code))
		reply.Header.Set(micro.ErrorHeader, cerr.Message)
		reply.Data = cerr.Data
	} else {
		reply.Data, _ = json.Marshal(res)
	}
	_ = m.RespondMsg(reply)
}

// errNoReply makes the responder stay silent.
var errNoReply = &struct{ x int }{}

func (r *responder) callsOf(method string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.method == method {
			out = append(out, c)
		}
	}
	return out
}

// env is one test's NATS (with the events stream) and its clients.
type env struct {
	t   testing.TB
	ns  *testkit.NATS
	nc  *nats.Conn
	js  jetstream.JetStream
	st  jetstream.Stream
	rsp *responder
}

func newEnv(t testing.TB) *env { t.Helper(); return newEnvWith(t, true) }

// newEnvWith starts NATS and the events stream, and the test conference
// service when responder is set.
func newEnvWith(t testing.TB, responder bool) *env {
	t.Helper()
	ns := testkit.StartNATS(t)
	nc, js := ns.ConnectJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := streams.EnsureEvents(ctx, js, streams.EventsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ns: ns, nc: nc, js: js, st: st}
	if responder {
		e.rsp = startResponder(t, nc)
	}
	return e
}

// testEdge is an edge served by httptest on its own NATS connection.
type testEdge struct {
	srv *Server
	ts  *httptest.Server
	url string // ws://host:port
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.ShutdownWindow = 100 * time.Millisecond
	cfg.ShutdownCap = 5 * time.Second
	cfg.InsecureNoAuth = true // the tests of tokens set a key (jwt_test.go)
	return cfg
}

func (e *env) edge(mutate func(*Config)) *testEdge {
	e.t.Helper()
	cfg := testConfig()
	cfg.NATSURL = e.ns.ClientURL()
	if mutate != nil {
		mutate(&cfg)
	}
	nc := e.ns.Connect(e.t)
	srv, err := New(cfg, nc, testLogger())
	if err != nil {
		e.t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return &testEdge{srv: srv, ts: ts, url: "ws" + strings.TrimPrefix(ts.URL, "http")}
}

// publish stores an event in the stream as svc-callback would.
func (e *env) publish(confID string, seq uint64, kind string) {
	e.t.Helper()
	ev := contract.Event{Kind: kind, ConfID: confID, CallID: "0123456789abcdef0123456789abcdef", Number: "13800138000",
		Time: "20260101120000", Received: time.Now().UTC(), Seq: seq}
	b, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, contract.EventsSubject(confID), b); err != nil {
		e.t.Fatal(err)
	}
}

// client is a real WebSocket client.
type client struct {
	t    testing.TB
	c    *websocket.Conn
	next int
}

func dial(t testing.TB, base, clientID, query string) *client {
	t.Helper()
	c, err := dialErr(base, clientID, query, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", clientID, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func dialErr(base, clientID, query string, d *websocket.Dialer) (*websocket.Conn, error) {
	if d == nil {
		d = websocket.DefaultDialer
	}
	u := base + "/client/" + clientID
	if query != "" {
		u += "?" + query
	}
	c, resp, err := d.Dial(u, nil)
	if err != nil && resp != nil {
		return nil, &httpError{resp.StatusCode, err}
	}
	return c, err
}

type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }

func (cl *client) send(s string) {
	cl.t.Helper()
	if err := cl.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		cl.t.Fatalf("send: %v", err)
	}
}

// msg is one received message.
type msg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
	Params map[string]json.RawMessage `json:"params"`
	raw    []byte
}

func (m msg) seq() uint64 {
	var n uint64
	_ = json.Unmarshal(m.Params["seq"], &n)
	return n
}

func (m msg) param(name string) string {
	var s string
	if json.Unmarshal(m.Params[name], &s) != nil {
		return string(m.Params[name])
	}
	return s
}

func (cl *client) read(timeout time.Duration) (msg, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := cl.c.ReadMessage()
	if err != nil {
		return msg{}, err
	}
	var m msg
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		cl.t.Fatalf("bad message %s: %v", data, err)
	}
	m.raw = data
	return m, nil
}

func (cl *client) mustRead() msg {
	cl.t.Helper()
	m, err := cl.read(5 * time.Second)
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	return m
}

// response reads until the response with id, failing on anything else
// unless skipNotes is set (notifications are then skipped).
func (cl *client) response(id string, skipNotes bool) msg {
	cl.t.Helper()
	for {
		m := cl.mustRead()
		if m.Method != "" && skipNotes {
			continue
		}
		if string(m.ID) != id {
			cl.t.Fatalf("got %s, want response id %s", m.raw, id)
		}
		return m
	}
}

// notification reads until a notification of method (others skipped).
func (cl *client) notification(method string) msg {
	cl.t.Helper()
	for {
		m := cl.mustRead()
		if m.Method == method {
			return m
		}
	}
}

// events reads n event notifications (OnConfWatch skipped).
func (cl *client) events(n int) []msg {
	cl.t.Helper()
	var out []msg
	for len(out) < n {
		m := cl.mustRead()
		if m.Method == contract.NotifyWatch || m.Method == "" {
			continue
		}
		out = append(out, m)
	}
	return out
}

// quiet asserts nothing arrives within d (except notifications of skip).
func (cl *client) quiet(d time.Duration) {
	cl.t.Helper()
	m, err := cl.read(d)
	if err == nil {
		cl.t.Fatalf("unexpected message %s", m.raw)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		cl.t.Fatalf("unexpected error %v", err)
	}
	// A read deadline breaks a gorilla connection for further reads.
}

// closeCode reads until the connection closes and returns the close code.
func (cl *client) closeCode(timeout time.Duration) int {
	cl.t.Helper()
	deadline := time.Now().Add(timeout)
	n := 0
	for {
		_ = cl.c.SetReadDeadline(deadline)
		_, _, err := cl.c.ReadMessage()
		if err == nil {
			n++
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if os.Getenv("EDGE_TEST_LOG") != "" {
			buf := make([]byte, 1<<20)
			os.Stderr.Write(buf[:runtime.Stack(buf, true)])
		}
		cl.t.Fatalf("connection ended without close frame after %d messages: %v", n, err)
	}
}

func get(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func testLogger() zerolog.Logger {
	if os.Getenv("EDGE_TEST_LOG") != "" {
		return zerolog.New(os.Stderr).Level(zerolog.DebugLevel)
	}
	return zerolog.Nop()
}
