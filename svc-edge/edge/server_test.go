package edge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/testkit"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

func TestClientIDOriginAndMaxConns(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.MaxConns = 2 })
	for _, id := range []string{"bad.id", strings.Repeat("x", 65), "a%20b"} {
		_, err := dialErr(ed.url, id, "", nil)
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusBadRequest {
			t.Errorf("client id %q: %v, want HTTP 400", id, err)
		}
	}
	if _, err := dialErr(ed.url, "x", "resume=12:1", nil); err == nil {
		t.Errorf("bad resume accepted")
	}
	evil := &websocket.Dialer{}
	hdr := http.Header{"Origin": {"https://evil.example"}}
	if _, resp, err := evil.Dial(ed.url+"/client/o", hdr); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin accepted: %v", err)
	}
	// Host names are case-insensitive: a non-browser client may not lower-case them.
	for _, origin := range []string{"http://localhost:3000", "http://LocalHost:3000"} {
		c, _, err := evil.Dial(ed.url+"/client/o", http.Header{"Origin": {origin}})
		if err != nil {
			t.Fatalf("origin %s refused: %v", origin, err)
		}
		c.Close()
		testkit.Eventually(t, "the connection to end", 2*time.Second, func() bool { return ed.srv.conns.Load() == 0 })
	}

	dial(t, ed.url, "c1", "")
	dial(t, ed.url, "c2", "")
	_, err := dialErr(ed.url, "c3", "", nil)
	var he *httpError
	if !errors.As(err, &he) || he.status != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v, want HTTP 503", err)
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 200} {
		if got := get(t, ed.ts.URL+path); got != want {
			t.Errorf("GET %s = %d, want %d", path, got, want)
		}
	}
	ops := httptest.NewServer(ed.srv.OpsHandler())
	defer ops.Close()
	if got := get(t, ops.URL+"/metrics"); got != 200 {
		t.Errorf("GET /metrics on the ops listener = %d, want 200", got)
	}
}

func TestOriginsConfigured(t *testing.T) {
	srv := &Server{cfg: Config{AllowedOrigins: []string{"https://app.example.com", "other.example"}}, metrics: newMetrics()}
	for origin, want := range map[string]bool{
		"": true, "https://app.example.com": true, "http://app.example.com": false,
		"https://other.example:8443": true, "http://localhost": false, "null": false,
	} {
		r, _ := http.NewRequest("GET", "http://edge.example/client/x", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := srv.checkOrigin(r); got != want {
			t.Errorf("origin %q: %v, want %v", origin, got, want)
		}
	}
}

// A second connection with the same client id replaces the first (4000),
// on the same edge and across edges.
func TestDuplicateClientID(t *testing.T) {
	e := newEnv(t)
	ed1 := e.edge(nil)
	ed2 := e.edge(nil)
	old := dial(t, ed1.url, "dup", "")
	nw := dial(t, ed1.url, "dup", "")
	if code := old.closeCode(3 * time.Second); code != contract.CloseReplaced {
		t.Fatalf("old connection closed with %d, want 4000", code)
	}
	nw.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	nw.response("1", true)

	other := dial(t, ed2.url, "dup", "")
	if code := nw.closeCode(3 * time.Second); code != contract.CloseReplaced {
		t.Fatalf("connection on edge 1 closed with %d, want 4000", code)
	}
	other.send(`{"jsonrpc":"2.0","id":2,"method":"QueryConfState","params":["1234"]}`)
	other.response("2", true)
}

func TestOversizedFrame(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.ReadLimit = 1024 })
	cl := dial(t, ed.url, "big", "")
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"],"pad":"` + strings.Repeat("x", 2000) + `"}`)
	if code := cl.closeCode(3 * time.Second); code != websocket.CloseMessageTooBig {
		t.Fatalf("close %d, want 1009", code)
	}
}

// A client that stops reading is disconnected with 4001 once its queue
// overflows; another client is not affected.
func TestSlowReader(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) {
		c.ReadLimit = 1024
		c.SendQueueBytes = 256 << 10
		c.WriteTimeout = 5 * time.Second
	})
	big := contract.Conference{ConfID: "1234", Owner: strings.Repeat("o", 100000)}
	e.rsp.handle(contract.MethodGetConf, func(*nats.Msg) (any, *contract.Error) { return big, nil })
	c, err := dialErr(ed.url, "slow", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	slow := &client{t: t, c: c}
	fast := dial(t, ed.url, "fast", "")
	slowCount := func() float64 { return counterValue(t, ed.srv, "confapplet_edge_disconnects_total", "slow") }
	for i := 0; i < 2000 && slowCount() == 0; i++ {
		slow.send(`{"jsonrpc":"2.0","id":1,"method":"GetConf","params":["1234"]}`)
		time.Sleep(time.Millisecond)
	}
	testkit.Eventually(t, "a slow-consumer disconnect", 3*time.Second, func() bool { return slowCount() == 1 })
	fast.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	fast.response("1", true)
	if code := slow.closeCode(5 * time.Second); code != contract.CloseSlowConsumer {
		t.Fatalf("close %d, want 4001", code)
	}
	// Once its connection has ended, the slow consumer is still counted once.
	testkit.Eventually(t, "the slow connection to end", 5*time.Second, func() bool { return ed.srv.conns.Load() == 1 })
	if got := slowCount(); got != 1 {
		t.Fatalf("disconnects{slow} = %v for one slow consumer, want 1", got)
	}
}

// Run with -addr 127.0.0.1:0 and -ready-file; shutdown closes with 1001.
func TestRunAndShutdown(t *testing.T) {
	e := newEnv(t)
	ready := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	env := map[string]string{"NATS_URL": e.ns.ClientURL(), "EDGE_SHUTDOWN_WINDOW": "300ms", "LOG_LEVEL": "error", "EDGE_INSECURE_NO_AUTH": "true"}
	go func() {
		done <- Run(ctx, []string{"-addr", "127.0.0.1:0", "-ops-addr", "127.0.0.1:0", "-ready-file", ready}, func(k string) string { return env[k] }, &strings.Builder{})
	}()
	var addr string
	testkit.Eventually(t, "the ready file", 5*time.Second, func() bool {
		b, err := os.ReadFile(ready)
		addr = string(b)
		return err == nil && addr != ""
	})
	if err := Run(context.Background(), []string{"-healthcheck", "-addr", addr}, func(string) string { return "" }, &strings.Builder{}); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	var cls []*client
	for _, id := range []string{"s1", "s2", "s3"} {
		cls = append(cls, dial(t, "ws://"+addr, id, ""))
	}
	cls[0].send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	cls[0].response("1", true)
	start := time.Now()
	cancel()
	for _, cl := range cls {
		if code := cl.closeCode(3 * time.Second); code != websocket.CloseGoingAway {
			t.Fatalf("close %d, want 1001", code)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if err := Run(context.Background(), []string{"-healthcheck", "-addr", addr}, func(string) string { return "" }, &strings.Builder{}); err == nil {
		t.Fatal("healthcheck passed after shutdown")
	}
}

// After clients leave, the edge holds no goroutine for them.
func TestGoroutinesReturnToBaseline(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(nil)
	e.rsp.handle(contract.MethodListOwned, func(*nats.Msg) (any, *contract.Error) { return []string{"4321"}, nil })
	e.publish("4321", 1, contract.KindCreated)
	// Warm up once (lazy goroutines of http and nats).
	w := dial(t, ed.url, "warm", "")
	w.events(1)
	w.c.Close()
	testkit.Eventually(t, "warm-up to end", 3*time.Second, func() bool { return ed.srv.conns.Load() == 0 })
	time.Sleep(closeGrace + 200*time.Millisecond)
	base := runtime.NumGoroutine()

	var cls []*client
	for i := 0; i < 20; i++ {
		cl := dial(t, ed.url, "g"+string(rune('a'+i)), "")
		cl.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
		cls = append(cls, cl)
	}
	for _, cl := range cls {
		cl.response("1", true)
	}
	e.publish("4321", 2, contract.KindJoined)
	for _, cl := range cls {
		if ev := cl.events(1); ev[0].seq() != 2 { // seq 1 was replayed before the response
			t.Fatalf("got %s", ev[0].raw)
		}
	}
	if n := runtime.NumGoroutine(); n > base+20+5 {
		t.Errorf("%d goroutines for 20 idle connections over a base of %d", n, base)
	}
	for _, cl := range cls {
		cl.c.Close()
	}
	testkit.Eventually(t, "goroutines back to baseline", 10*time.Second, func() bool { return runtime.NumGoroutine() <= base })
	if n := ed.srv.hub.subscriptions(); n != 0 {
		t.Errorf("%d conference subscriptions left", n)
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{"EDGE_ADDR": ":9999", "EDGE_QUEUE_LEN": "4", "EDGE_TIMEOUTS": "InviteJoinConf=15s,QueryConfState=2s",
		"EDGE_ALLOWED_ORIGINS": "https://a.example, b.example", "NATS_URL": "nats://n:4222", "EDGE_AUTH_SECRET": "k"}
	cfg, err := ParseConfig([]string{"-queue-len", "8"}, func(k string) string { return env[k] }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9999" || cfg.QueueLen != 8 || cfg.NATSURL != "nats://n:4222" || len(cfg.AllowedOrigins) != 2 ||
		cfg.Timeout(contract.MethodInviteJoinConf) != 15*time.Second || cfg.Timeout(contract.MethodDismissConf) != 10*time.Second {
		t.Fatalf("%+v", cfg)
	}
	for _, bad := range [][]string{{"-queue-len", "0"}, {"-timeouts", "Nope=1s"}, {"-timeouts", "x"}, {"-read-limit", "10"}} {
		if _, err := ParseConfig(bad, func(string) string { return "" }, &strings.Builder{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := New(Config{}, nil, zerolog.Nop()); err == nil {
		t.Error("New accepted an empty config")
	}
}

// Without NATS, requests fail at once with -32000, and after NATSGrace the
// sessions are closed with 4003 so that they move to another edge.
func TestNATSLost(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(func(c *Config) { c.NATSGrace = 2 * time.Second })
	cl := dial(t, ed.url, "n", "")
	cl.c.WriteMessage(websocket.BinaryMessage, []byte(`{}`))
	if m := cl.mustRead(); m.Error == nil || m.Error.Code != -32600 || string(m.ID) != "null" {
		t.Fatalf("binary frame: %s", m.raw)
	}
	testkit.Eventually(t, "the session to start", 5*time.Second, func() bool { return len(e.rsp.callsOf(contract.MethodListOwned)) == 1 })
	time.Sleep(50 * time.Millisecond) // the ListOwned reply reaches the edge
	e.ns.Stop()
	testkit.Eventually(t, "the edge to notice", 5*time.Second, func() bool { return !ed.srv.nc.IsConnected() })
	start := time.Now()
	cl.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	if m := cl.response("1", true); m.Error == nil || m.Error.Code != -32000 || time.Since(start) > time.Second {
		t.Fatalf("request without NATS: %s after %v", m.raw, time.Since(start))
	}
	if get(t, ed.ts.URL+"/readyz") != http.StatusServiceUnavailable {
		t.Error("/readyz is ok without NATS")
	}
	if code := cl.closeCode(5 * time.Second); code != contract.CloseServerFailure {
		t.Fatalf("close %d, want 4003", code)
	}
}
