package edge

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"confapplet/pkg/testkit"
)

// serveEdge runs Serve with cfg (free ports for every listener) and returns
// the public, ops and pprof addresses.
func serveEdge(t *testing.T, e *env, mutate func(*Config)) (public, ops, pprof string) {
	t.Helper()
	cfg := testConfig()
	cfg.NATSURL = e.ns.ClientURL()
	cfg.OpsAddr, cfg.Pprof = testkit.FreeAddr(t), testkit.FreeAddr(t)
	ready := make(chan string, 1)
	cfg.OnListen = func(addr string) { ready <- addr }
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var served error
	finished := make(chan struct{})
	go func() { served = Serve(ctx, cfg, testLogger()); close(finished) }()
	t.Cleanup(func() {
		cancel()
		<-finished
		if served != nil {
			t.Errorf("Serve: %v", served)
		}
	})
	select {
	case public = <-ready:
	case <-finished:
		t.Fatalf("Serve: %v", served)
	}
	return public, cfg.OpsAddr, cfg.Pprof
}

// Metrics and profiles are on the ops and pprof listeners, never on the
// public one, which browsers (and anyone) reach.
func TestMetricsAndPprofOnlyOffThePublicListener(t *testing.T) {
	e := newEnv(t)
	public, ops, pprof := serveEdge(t, e, nil)
	for url, want := range map[string]int{
		"http://" + public + "/metrics":                      http.StatusNotFound,
		"http://" + public + "/debug/pprof/goroutine":        http.StatusNotFound,
		"http://" + public + "/debug/pprof/profile":          http.StatusNotFound,
		"http://" + public + "/healthz":                      http.StatusOK,
		"http://" + public + "/readyz":                       http.StatusOK,
		"http://" + ops + "/metrics":                         http.StatusOK,
		"http://" + ops + "/healthz":                         http.StatusOK,
		"http://" + ops + "/readyz":                          http.StatusOK,
		"http://" + pprof + "/debug/pprof/goroutine?debug=1": http.StatusOK,
	} {
		if got := get(t, url); got != want {
			t.Errorf("GET %s = %d, want %d", url, got, want)
		}
	}
}

// A keep-alive connection that never upgrades is closed after the idle
// timeout, one that never sends its headers after the header timeout; a
// WebSocket outlives both (and the HTTP read and write timeouts), as the
// edge's own keep-alive manages it.
func TestIdleConnectionsClosedWebSocketsKept(t *testing.T) {
	e := newEnv(t)
	const idle, header = 300 * time.Millisecond, 400 * time.Millisecond
	public, _, _ := serveEdge(t, e, func(c *Config) {
		c.HTTP.Idle, c.HTTP.ReadHeader = idle, header
		// Longer than the idle window measured below (so the idle timeout,
		// not these, closes the first connection), shorter than the
		// WebSocket's quiet time.
		c.HTTP.Read, c.HTTP.Write = 2*time.Second, 2*time.Second
	})
	closedWithin := func(c net.Conn, max time.Duration) {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection not closed by the edge: %v", err)
		}
		if d := time.Since(start); d > max {
			t.Errorf("closed after %v, want within %v", d, max)
		}
	}
	c, err := net.Dial("tcp", public)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /healthz: %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	closedWithin(c, idle+time.Second/2)

	silent, err := net.Dial("tcp", public)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closedWithin(silent, header+time.Second/2)

	ws := dial(t, "ws://"+public, "idle-ws", "")
	time.Sleep(2500 * time.Millisecond)
	ws.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	if m := ws.response("1", true); m.ID == nil {
		t.Fatalf("WebSocket after the HTTP timeouts: %s", m.raw)
	}
}

// With an OTLP endpoint configured, a request's span reaches the collector
// at the latest when the edge shuts down: the last batch is flushed within
// the shutdown cap, after the NATS drain.
func TestTracesFlushedAtShutdown(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	t.Cleanup(collector.Close)
	// Registered before serveEdge's: runs after the edge has stopped.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) != 1 || !strings.HasPrefix(bodies[0], "/v1/traces ") || !strings.Contains(bodies[0], "edge QueryConfState") {
			t.Errorf("collector got %q, want one batch with the request's span", bodies)
		}
	})
	e := newEnv(t)
	public, _, _ := serveEdge(t, e, func(c *Config) { c.Tracing.Endpoint = collector.URL })
	ws := dial(t, "ws://"+public, "traced", "")
	ws.send(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["1234"]}`)
	ws.response("1", false)
}
