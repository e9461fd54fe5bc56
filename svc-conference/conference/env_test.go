package conference

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"
	"confapplet/pkg/ytxsim"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// env is one test's world: an embedded NATS server with JetStream, the
// platform simulator on an httptest server, and the real Yuntongxun client.
// The simulator sends no callbacks (no notification address); tests that
// need the state to follow the platform publish the events svc-callback
// would publish, with publishEvent.
type env struct {
	t     testing.TB
	ns    *testkit.NATS
	sim   *ytxsim.Sim
	clock *ytxsim.FakeClock
	srv   *httptest.Server
	nc    *nats.Conn // the test's own connection (the "edge")
	js    jetstream.JetStream

	mu  sync.Mutex
	seq map[string]uint64 // per-conference event seq, as svc-callback assigns it
}

type envOpts struct {
	realClock bool
	latency   time.Duration
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t, seq: map[string]uint64{}}
	e.ns = testkit.StartNATS(t)
	cfg := ytxsim.Config{Latency: o.latency, Retries: -1}
	if !o.realClock {
		e.clock = ytxsim.NewFakeClockNow()
		cfg.Clock = e.clock
	}
	e.sim = ytxsim.New(cfg)
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(func() { e.srv.Close(); e.sim.Close() })
	e.nc, e.js = e.ns.ConnectJS(t, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	return e
}

// config is a service configuration for this env: the simulator's
// credentials and address, generous guard limits, no ops HTTP.
func (e *env) config() Config {
	cfg := DefaultConfig()
	cfg.NATSURL = e.ns.ClientURL()
	cfg.HTTPAddr = ""
	cfg.YTXBaseURL = e.srv.URL + "/" + ytxsim.Version
	cfg.YTXAccountSID, cfg.YTXAuthToken, cfg.YTXAppID = ytxsim.DefaultAccountSID, ytxsim.DefaultAuthToken, ytxsim.DefaultAppID
	cfg.InviteRatePerSec, cfg.GlobalRatePerSec = 0, 0
	cfg.MaxConfsPerClient = 0
	cfg.CallsPerMinute, cfg.ConfsPerMinute, cfg.MaxLiveCalls, cfg.SourceCallsPerMinute, cfg.SourceConfsPerMinute = 0, 0, 0, 0, 0
	cfg.MissingRecordDelay = 20 * time.Millisecond
	cfg.ShutdownGrace = 5 * time.Second
	return cfg
}

// start runs a service instance on its own NATS connection.
func (e *env) start(mod func(*Config)) *Service {
	e.t.Helper()
	cfg := e.config()
	if mod != nil {
		mod(&cfg)
	}
	nc := e.ns.Connect(e.t, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	p, err := NewYTX(cfg, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	svc, err := New(cfg, nc, p, zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.WarnLevel))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(svc.Stop)
	return svc
}

// hdr builds request headers: client id, then optional key/value pairs.
func hdr(client string, kv ...string) nats.Header {
	h := nats.Header{}
	if client != "" {
		h.Set(contract.HeaderClientID, client)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// call sends one request as the edge does and decodes the reply.
func (e *env) call(method string, h nats.Header, body any) (json.RawMessage, *contract.Error) {
	e.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := e.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: contract.ServiceSubject(method), Header: h, Data: b})
	if err != nil {
		e.t.Fatalf("%s: %v", method, err)
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, &contract.Error{Code: contract.Code(code), Message: m.Header.Get(micro.ErrorHeader), Data: m.Data}
	}
	return m.Data, nil
}

// must is call that expects success.
func (e *env) must(method, client string, body any) json.RawMessage {
	e.t.Helper()
	res, cerr := e.call(method, hdr(client), body)
	if cerr != nil {
		e.t.Fatalf("%s as %s: %v", method, client, cerr)
	}
	return res
}

// fails is call that expects code.
func (e *env) fails(code contract.Code, method string, h nats.Header, body any) *contract.Error {
	e.t.Helper()
	res, cerr := e.call(method, h, body)
	if cerr == nil || cerr.Code != code {
		e.t.Fatalf("%s: want %s, got %v (result %s)", method, code, cerr, res)
	}
	return cerr
}

func (e *env) create(client string, maxMember int) string {
	e.t.Helper()
	var id string
	if err := json.Unmarshal(e.must(contract.MethodCreateConf, client, contract.CreateConfRequest{MaxMember: maxMember}), &id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) invite(client, confID, number string) string {
	e.t.Helper()
	var id string
	if err := json.Unmarshal(e.must(contract.MethodInviteJoinConf, client, contract.InviteJoinConfRequest{ConfID: confID, Number: number}), &id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) getConf(client, confID string) contract.Conference {
	e.t.Helper()
	var c contract.Conference
	if err := json.Unmarshal(e.must(contract.MethodGetConf, client, contract.ConfRequest{ConfID: confID}), &c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// publishEvent stores ev on the events stream as svc-callback would, with
// the next per-conference seq unless ev.Seq is set.
func (e *env) publishEvent(ev contract.Event) contract.Event {
	e.t.Helper()
	e.mu.Lock()
	if ev.Seq == 0 {
		e.seq[ev.ConfID]++
		ev.Seq = e.seq[ev.ConfID]
	}
	e.mu.Unlock()
	if ev.Received.IsZero() {
		ev.Received = time.Now().UTC()
	}
	b, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, contract.EventsSubject(ev.ConfID), b); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

func findMember(c contract.Conference, callID string) (contract.Member, bool) {
	for _, m := range c.Members {
		if m.CallID == callID {
			return m, true
		}
	}
	return contract.Member{}, false
}

func mustJSON(t testing.TB, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

func testCounter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }
