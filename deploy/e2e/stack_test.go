package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/token"
	"confapplet/pkg/ytxsim"
	"confapplet/svc-callback/callback"
	"confapplet/svc-conference/conference"
	"confapplet/svc-edge/edge"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const (
	secret        = "e2e-callback-secret"
	operatorToken = "e2e-operator"
	// tokenSecret is the edges' HS256 key: every client connects with a
	// token for its id (stack.dial), as in production.
	tokenSecret = "e2e-token-secret"
	// Numbers by the simulator's default rules.
	answering  = "13912345678"
	answering2 = "13912345679"
	answering3 = "13912345670"
	busy       = ytxsim.NumberBusy
)

// stack is the whole system in one test process: embedded NATS (which a
// test can stop and start again), svc-callback, svc-conference, two
// svc-edge instances and the simulator on a fake clock, each service on a
// NATS connection of its own, all over real HTTP and WebSockets.
type stack struct {
	t    *testing.T
	logs *testkit.Buffer // every service's logs, printed when a test fails
	nats *testkit.NATS

	clock *ytxsim.FakeClock
	sim   *ytxsim.Sim
	// platformRequests counts the REST requests svc-conference made.
	platformRequests atomic.Int64

	cb     *callback.Server
	cbNC   *nats.Conn
	cbURL  string // http://127.0.0.1:port (the platform's view: /yt/<secret>/<kind> below it)
	cbHook atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]

	edges    []string       // http://127.0.0.1:port of each edge
	edgeSrvs []*edge.Server // the edges themselves (their ops handler)

	mu    sync.Mutex
	conns map[string]*nats.Conn // every service's NATS connection, by name
	// edgeReconnectWait, when set before newStack's edges connect, slows
	// the edges' NATS reconnects (see TestNATSOutageEdgeReconnectsLate).
	edgeReconnectWait time.Duration
	// inviteWithoutResult, when set before newStack, makes the simulator
	// send invitation results without "result" (ytxsim.Config).
	inviteWithoutResult bool
	// traces, when set before newStack, receives every service's spans
	// (tracing_test.go).
	traces *tracetest.InMemoryExporter
}

func natsOpts(name string) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}
}

func newStack(t *testing.T, opts ...func(*stack)) *stack {
	t.Helper()
	st := &stack{t: t, logs: &testkit.Buffer{}, conns: map[string]*nats.Conn{}}
	for _, o := range opts {
		o(st)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := st.logs.String()
			if len(logs) > 60000 {
				logs = "…" + logs[len(logs)-60000:]
			}
			t.Logf("service logs:\n%s", logs)
		}
	})
	log := func(service string) zerolog.Logger {
		return zerolog.New(st.logs).With().Timestamp().Str("service", service).Logger()
	}
	st.nats = testkit.StartNATS(t)

	// svc-callback, behind a hook a test can use to play a lossy network.
	st.cbNC = st.connect("svc-callback", nats.ReconnectBufSize(-1))
	var err error
	cbCfg := callback.DefaultConfig()
	cbCfg.Secret = secret
	cbCfg.PublishTimeout = 10 * time.Second
	cbCfg.Tracer = st.tracer("svc-callback", "")
	if st.cb, err = callback.New(cbCfg, st.cbNC, log("svc-callback")); err != nil {
		t.Fatal(err)
	}
	cbHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := st.cbHook.Load(); h != nil && (*h)(w, r) {
			return
		}
		st.cb.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(cbHTTP.Close)
	st.cbURL = cbHTTP.URL

	// The simulator calls back into svc-callback; a failed delivery is
	// retried after 1 s, 2 s, … of fake time.
	st.clock = ytxsim.NewFakeClockNow()
	st.sim = ytxsim.New(ytxsim.Config{
		NotifyBaseURL: st.cbURL + "/yt/" + secret,
		Clock:         st.clock,
		RetryBackoff:  time.Second,
		Retries:       5,
		Logger:        log("ytxsim"),

		InviteWithoutResult: st.inviteWithoutResult,
	})
	simHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.platformRequests.Add(1)
		st.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(simHTTP.Close)
	t.Cleanup(st.sim.Close)

	// svc-conference on the simulator.
	confCfg := conference.DefaultConfig()
	confCfg.HTTPAddr = ""
	confCfg.YTXBaseURL = simHTTP.URL + "/" + ytxsim.Version
	confCfg.OperatorToken = operatorToken
	confCfg.InstanceName = "conf-1"
	confCfg.Tracer = st.tracer("svc-conference", "conf-1")
	confNC := st.connect("svc-conference")
	ytx, err := conference.NewYTX(confCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	confSvc, err := conference.New(confCfg, confNC, ytx, log("svc-conference"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(confSvc.Stop)

	// Two edges.
	for i := range 2 {
		edCfg := edge.DefaultConfig()
		edCfg.Addr = "127.0.0.1:0"
		edCfg.InstanceID = []string{"edge-1", "edge-2"}[i]
		edCfg.AuthSecret = tokenSecret
		edCfg.Tracer = st.tracer("svc-edge", edCfg.InstanceID)
		var extra []nats.Option
		if st.edgeReconnectWait > 0 {
			extra = append(extra, nats.ReconnectWait(st.edgeReconnectWait), nats.ReconnectJitter(0, 0))
		}
		ed, err := edge.New(edCfg, st.connect(edCfg.InstanceID, extra...), log(edCfg.InstanceID))
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(ed.Handler())
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = ed.Shutdown(ctx)
			hs.Close()
		})
		st.edges = append(st.edges, hs.URL)
		st.edgeSrvs = append(st.edgeSrvs, ed)
	}
	return st
}

// connect opens a NATS connection that survives a NATS restart.
func (st *stack) connect(name string, extra ...nats.Option) *nats.Conn {
	st.t.Helper()
	nc, err := nats.Connect(st.nats.ClientURL(), append(natsOpts(name), extra...)...)
	if err != nil {
		st.t.Fatal(err)
	}
	st.t.Cleanup(nc.Close)
	st.mu.Lock()
	st.conns[name] = nc
	st.mu.Unlock()
	return nc
}

// waitReconnected waits until every service is connected to NATS again and
// its subscriptions are back on the server.
func (st *stack) waitReconnected() {
	st.t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for name, nc := range st.conns {
		testkit.Eventually(st.t, name+" to reconnect", 20*time.Second, nc.IsConnected)
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			st.t.Fatalf("%s flush: %v", name, err)
		}
	}
}

// withJS hands fn JetStream on a short-lived connection of its own, for a
// test to read what is stored.
func (st *stack) withJS(fn func(ctx context.Context, js jetstream.JetStream)) {
	st.t.Helper()
	nc, err := nats.Connect(st.nats.ClientURL())
	if err != nil {
		st.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fn(ctx, js)
}

// withEventsStream hands fn the events stream (withJS).
func (st *stack) withEventsStream(fn func(ctx context.Context, s jetstream.Stream)) {
	st.t.Helper()
	st.withJS(func(ctx context.Context, js jetstream.JetStream) {
		s, err := js.Stream(ctx, contract.EventsStream)
		if err != nil {
			st.t.Fatal(err)
		}
		fn(ctx, s)
	})
}

// lastSeq is the seq of confID's last stored event, 0 for none.
func (st *stack) lastSeq(confID string) (seq uint64) {
	st.t.Helper()
	st.withEventsStream(func(ctx context.Context, s jetstream.Stream) {
		m, err := s.GetLastMsgForSubject(ctx, contract.EventsSubject(confID))
		if err == jetstream.ErrMsgNotFound {
			return
		}
		if err != nil {
			st.t.Fatal(err)
		}
		var ev contract.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			st.t.Fatal(err)
		}
		seq = ev.Seq
	})
	return seq
}

// storedCount is how many events of confID the stream holds.
func (st *stack) storedCount(confID string) (n uint64) {
	st.t.Helper()
	st.withEventsStream(func(ctx context.Context, s jetstream.Stream) {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(contract.EventsSubject(confID)))
		if err != nil {
			st.t.Fatal(err)
		}
		n = info.State.Subjects[contract.EventsSubject(confID)]
	})
	return n
}

// postCallback sends a raw callback as the platform would.
func (st *stack) postCallback(secret, kind, body string) int {
	st.t.Helper()
	resp, err := http.Post(st.cbURL+"/yt/"+secret+"/"+kind, "text/plain", strings.NewReader(body))
	if err != nil {
		st.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// browser is one WebSocket client of the protocol.
type browser struct {
	t *testing.T
	c *client.Client
}

func (st *stack) dial(edgeIdx int, clientID string, opts ...client.Option) *browser {
	st.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A fresh token for every connect; a test's own WithTokenSource wins.
	opts = append([]client.Option{client.WithTokenSource(func(context.Context) (string, error) {
		return token.HS256(tokenSecret, clientID, time.Hour), nil
	})}, opts...)
	c, err := client.Dial(ctx, st.edges[edgeIdx], clientID, opts...)
	if err != nil {
		st.t.Fatalf("dial edge %d as %s: %v", edgeIdx, clientID, err)
	}
	st.t.Cleanup(func() { _ = c.Close() })
	return &browser{t: st.t, c: c}
}

// createConf creates a conference and waits for its OnConfCreate.
func (b *browser) createConf() string {
	b.t.Helper()
	confID, err := b.c.CreateConf(b.ctx())
	if err != nil {
		b.t.Fatalf("CreateConf: %v", err)
	}
	b.expect(contract.NotifyCreate)
	return confID
}

func (b *browser) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	b.t.Cleanup(cancel)
	return ctx
}

// params of an event notification.
type params struct {
	ConfID string `json:"confid"`
	CallID string `json:"callid"`
	Number string `json:"number"`
	Result *int   `json:"result"`
	Status *int   `json:"status"`
	Seq    uint64 `json:"seq"`
}

type event struct {
	Method string
	params
}

// next returns the next event notification (OnConfWatch is skipped).
func (b *browser) next() event {
	b.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case n, ok := <-b.c.Notifications():
			if !ok {
				b.t.Fatalf("%s: notifications closed: %v", b.c.ClientID(), b.c.Err())
			}
			if !n.IsEvent() {
				if n.Method == contract.NotifyEventsLost {
					b.t.Fatalf("%s: unexpected %s %s", b.c.ClientID(), n.Method, n.Params)
				}
				continue
			}
			var p params
			if err := n.Decode(&p); err != nil {
				b.t.Fatal(err)
			}
			return event{Method: n.Method, params: p}
		case <-timeout:
			b.t.Fatalf("%s: no event within 15 s", b.c.ClientID())
		}
	}
}

// expect reads len(methods) events and checks their methods, in order.
func (b *browser) expect(methods ...string) []event {
	b.t.Helper()
	var out []event
	for i, m := range methods {
		ev := b.next()
		if ev.Method != m {
			b.t.Fatalf("%s: event %d is %s %+v, want %s", b.c.ClientID(), i, ev.Method, ev.params, m)
		}
		out = append(out, ev)
	}
	return out
}

// quiet checks that no event arrives within d.
func (b *browser) quiet(d time.Duration) {
	b.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case n := <-b.c.Notifications():
			if n.IsEvent() || n.Method == contract.NotifyEventsLost {
				b.t.Fatalf("%s: unexpected %s %s", b.c.ClientID(), n.Method, n.Params)
			}
		case <-deadline:
			return
		}
	}
}

// dense checks that evs have seqs from, from+1, … of conference confID.
func dense(t *testing.T, who, confID string, evs []event, from uint64) {
	t.Helper()
	for i, ev := range evs {
		if ev.ConfID != confID || ev.Seq != from+uint64(i) {
			t.Fatalf("%s: event %d is %s %+v, want conference %s seq %d", who, i, ev.Method, ev.params, confID, from+uint64(i))
		}
	}
}

// ring lets simulated time pass so ringing calls answer (or fail).
func (st *stack) ring() { st.clock.Advance(3 * time.Second) }

// callFor finds the simulator's call id of number in confID.
func (st *stack) callFor(confID, number string) string {
	st.t.Helper()
	for _, c := range st.sim.Calls() {
		if c.ConfID == confID && c.Number == number {
			return c.CallSid
		}
	}
	st.t.Fatalf("no call to %s in %s", number, confID)
	return ""
}

// inviteAnsweringAndBusy invites an answering and a busy number into
// confID, lets the simulator ring, and returns both call ids with the
// results of the three OnConfInviteJoin that follow (seq 2..4), by call id.
func inviteAnsweringAndBusy(t *testing.T, st *stack, b *browser, confID string) (good, bad string, results map[string][]int) {
	t.Helper()
	good, err := b.c.InviteJoinConf(b.ctx(), confID, answering)
	if err != nil {
		t.Fatal(err)
	}
	if bad, err = b.c.InviteJoinConf(b.ctx(), confID, busy); err != nil {
		t.Fatal(err)
	}
	st.ring()
	evs := b.expect(contract.NotifyInviteJoin, contract.NotifyInviteJoin, contract.NotifyInviteJoin)
	dense(t, "the inviter", confID, evs, 2)
	results = map[string][]int{}
	for _, ev := range evs {
		if ev.Result == nil {
			t.Fatalf("OnConfInviteJoin without result: %+v", ev.params)
		}
		results[ev.CallID] = append(results[ev.CallID], *ev.Result)
	}
	return good, bad, results
}
