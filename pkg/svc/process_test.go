package svc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"confapplet/pkg/testkit"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// An idle keep-alive connection is closed within the idle timeout, and a
// connection that never sends a request within the header timeout.
func TestIdleConnectionsAreClosed(t *testing.T) {
	p := NewProcess(zerolog.Nop())
	limits := HTTPLimits{ReadHeader: 400 * time.Millisecond, Idle: 300 * time.Millisecond}
	addr, err := p.Listen("listening", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hi")
	}), limits)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, Stop{Cap: 2 * time.Second}) }()
	defer func() { cancel(); <-done }()

	closedAfter := func(c net.Conn) time.Duration {
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if err != nil {
			t.Fatalf("connection not closed by the server: %v", err)
		}
		return time.Since(start)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server did not keep the connection alive")
	}
	if d := closedAfter(c); d > limits.Idle+time.Second {
		t.Errorf("idle keep-alive connection closed after %v, want about %v", d, limits.Idle)
	}
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if d := closedAfter(silent); d > limits.ReadHeader+time.Second {
		t.Errorf("silent connection closed after %v, want about %v", d, limits.ReadHeader)
	}
}

// Run stops in stages: the listener is closed before the service's drain
// runs, the NATS connection is drained last, and the cap bounds it all.
func TestRunStages(t *testing.T) {
	ns := testkit.StartNATS(t)
	logs := &testkit.Buffer{}
	p := NewProcess(zerolog.New(logs))
	nc, err := p.Connect(NATS{URL: ns.ClientURL(), Name: "svc-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.WaitConnected(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	addr, err := p.Listen("listening", "127.0.0.1:0", http.NotFoundHandler(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Listen("listening", addr, http.NotFoundHandler(), DefaultLimits); err == nil {
		t.Fatal("a taken address was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var drainSawListener, drainSawNATS bool
	var drainDeadline time.Time
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- p.Run(ctx, Stop{Cap: 700 * time.Millisecond, Drain: func(ctx context.Context) error {
			time.Sleep(50 * time.Millisecond) // Shutdown closes the listener on its goroutine
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				drainSawListener = true
			}
			drainSawNATS = nc.IsConnected()
			drainDeadline, _ = ctx.Deadline()
			<-ctx.Done() // a drain that would never end: the cap ends it
			return ctx.Err()
		}})
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after ctx ended: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return: the cap does not hold")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v with a 700ms cap", d)
	}
	if drainSawListener || !drainSawNATS || drainDeadline.IsZero() {
		t.Errorf("drain saw the listener open %v, NATS connected %v, deadline %v: want closed, connected, set", drainSawListener, drainSawNATS, drainDeadline)
	}
	if !nc.IsClosed() {
		t.Error("NATS connection not closed after Run")
	}
	for _, want := range []string{`"message":"listening"`, `"message":"shutting down"`, `"message":"drain did not finish in time"`, `"message":"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// The Flush stages run last, after the NATS drain, within the cap; Close
// runs them too.
func TestFlushStages(t *testing.T) {
	ns := testkit.StartNATS(t)
	p := NewProcess(zerolog.Nop())
	nc, err := p.Connect(NATS{URL: ns.ClientURL(), Name: "svc-test"})
	if err != nil {
		t.Fatal(err)
	}
	var natsClosed, inCap bool
	p.Flush(func(ctx context.Context) error {
		natsClosed = nc.IsClosed()
		dl, ok := ctx.Deadline()
		inCap = ok && ctx.Err() == nil && time.Until(dl) <= time.Second
		return errors.New("collector away")
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Run(ctx, Stop{Cap: time.Second}); err != nil {
		t.Fatal(err)
	}
	if !natsClosed || !inCap {
		t.Errorf("flush saw NATS closed %v, a live context within the cap %v: want both", natsClosed, inCap)
	}
	flushed := false
	q := NewProcess(zerolog.Nop())
	q.Flush(func(context.Context) error { flushed = true; return nil })
	q.Close()
	if !flushed {
		t.Error("Close did not run the flush stage")
	}
}

// A service that stops by itself stops the process with its error.
func TestRunServiceStopped(t *testing.T) {
	p := NewProcess(zerolog.Nop())
	stopped := make(chan struct{})
	close(stopped)
	err := p.Run(context.Background(), Stop{Cap: time.Second, Done: stopped, Err: func() error { return errors.New("consumer gone") }})
	if err == nil || err.Error() != "consumer gone" {
		t.Fatalf("Run = %v, want the service's error", err)
	}
}

func TestOpsHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "svc_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	var ready error
	ops := Ops{Ready: func(context.Context) error { return ready }, Registry: reg}
	get := func(h http.Handler, path string) (int, string) {
		p := NewProcess(zerolog.Nop())
		addr, err := p.Listen("listening", "127.0.0.1:0", h, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, Stop{Cap: time.Second}) }()
		defer func() { cancel(); <-done }()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(ops.Handler(), "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	if code, body := get(ops.Handler(), "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz %d %q", code, body)
	}
	ready = errors.New("NATS disconnected")
	if code, body := get(ops.Handler(), "/readyz"); code != 503 || body != "not ready: NATS disconnected\n" {
		t.Errorf("/readyz not ready: %d %q", code, body)
	}
	if code, body := get(ops.Handler(), "/metrics"); code != 200 || !strings.Contains(body, "svc_test_total 1") {
		t.Errorf("/metrics %d %q", code, body)
	}
	// A public mux with the probes only has no /metrics.
	mux := http.NewServeMux()
	ops.Probes(mux)
	if code, _ := get(mux, "/metrics"); code != 404 {
		t.Errorf("/metrics on the probes-only mux: %d, want 404", code)
	}
}
