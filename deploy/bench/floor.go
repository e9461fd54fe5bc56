package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"confapplet/pkg/testkit"
	"confapplet/pkg/testkit/teststack"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
)

// The bench binary re-executes itself to run helper servers in their own
// process (the floors are measured with the same process layout as the
// stack: client and server in separate processes).
const (
	helperEnv = "CONFAPPLET_BENCH_HELPER"
	readyEnv  = "CONFAPPLET_BENCH_READY"
)

// runHelper runs the helper named by $CONFAPPLET_BENCH_HELPER; it returns
// the process's exit code.
func runHelper(name string) int {
	switch name {
	case "echo":
		if err := echoServer(); err != nil {
			fmt.Fprintln(os.Stderr, "echo helper:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper", name)
	return 2
}

// echoServer is a bare gorilla WebSocket echo server (default buffers) on a
// random port; it writes its address to $CONFAPPLET_BENCH_READY.
func echoServer() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			t, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(t, m); err != nil {
				return
			}
		}
	})}
	if p := os.Getenv(readyEnv); p != "" {
		if err := os.WriteFile(p, []byte(l.Addr().String()), 0o644); err != nil {
			return err
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() { <-sig; srv.Close() }()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// startHelper re-executes this binary as helper name and returns its
// address once it is listening.
func startHelper(ctx context.Context, e *env, name string) (*testkit.Proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	ready := filepath.Join(e.dir, name+".addr")
	p := testkit.NewProc("helper-"+name, self, e.dir, nil, map[string]string{helperEnv: name, readyEnv: ready})
	if err := p.Start(); err != nil {
		return nil, "", err
	}
	e.onStop(func() { p.Stop(5 * time.Second) })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			return p, string(b), testkit.WaitTCP(ctx, string(b), 5*time.Second, p)
		}
		if !p.Running() {
			return nil, "", fmt.Errorf("helper %s exited:\n%s", name, p.Tail(2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, "", fmt.Errorf("helper %s did not start", name)
}

// startNATS starts a nats-server (with JetStream) in its own process.
func startNATS(ctx context.Context, e *env) (*testkit.Proc, string, error) {
	p, url, err := teststack.StartNATS(ctx, e.build, e.dir)
	if err != nil {
		return nil, "", err
	}
	e.onStop(func() { p.Stop(10 * time.Second) })
	return p, url, nil
}

// floorPayload is a 200-byte JSON frame, like a small JSON-RPC request.
var floorPayload = func() []byte {
	b := []byte(`{"jsonrpc":"2.0","id":1,"method":"QueryConfState","params":["20481234"],"pad":"`)
	b = append(b, bytes.Repeat([]byte("x"), 200-len(b)-2)...)
	return append(b, '"', '}')
}()

// scenarioFloor measures a bare gorilla WebSocket echo round trip and a bare
// nats.go request/reply round trip (server in its own process), closed loop
// with 1 and 16 clients.
func scenarioFloor(ctx context.Context, e *env) ([]Result, error) {
	ws, err := floorWebSocket(ctx, e)
	if err != nil {
		return nil, err
	}
	nr, err := floorNATS(ctx, e)
	if err != nil {
		return nil, err
	}
	return append(ws, nr...), nil
}

func floorWebSocket(ctx context.Context, e *env) ([]Result, error) {
	_, addr, err := startHelper(ctx, e, "echo")
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, conc := range e.floorConc {
		conns := make([]*websocket.Conn, conc)
		for i := range conns {
			c, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+"/", nil)
			if err != nil {
				return nil, err
			}
			conns[i] = c
		}
		r := newRecorder()
		name := fmt.Sprintf("ws-echo %d conn", conc)
		stop := progress(ctx, e.stdout, name, r)
		el := closedLoop(ctx, conc, e.duration, r, func(ctx context.Context, w int) error {
			c := conns[w]
			if err := c.WriteMessage(websocket.TextMessage, floorPayload); err != nil {
				return err
			}
			_, m, err := c.ReadMessage()
			if err == nil && len(m) != len(floorPayload) {
				err = fmt.Errorf("echo of %d bytes", len(m))
			}
			return err
		})
		stop()
		for _, c := range conns {
			c.Close()
		}
		res := r.result("floor", name, "closed-loop", 0, conc, el)
		res.Extra = map[string]any{"frame_bytes": len(floorPayload), "layout": "client and echo server in separate processes"}
		e.report(res)
		out = append(out, res)
	}
	return out, nil
}

func floorNATS(ctx context.Context, e *env) ([]Result, error) {
	_, url, err := startNATS(ctx, e)
	if err != nil {
		return nil, err
	}
	resp, err := nats.Connect(url, nats.Name("bench-responder"))
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	if _, err := resp.Subscribe("bench.echo", func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		return nil, err
	}
	if err := resp.Flush(); err != nil {
		return nil, err
	}
	msg := floorPayload[:128]
	var out []Result
	for _, conc := range e.floorConc {
		ncs := make([]*nats.Conn, conc)
		for i := range ncs {
			nc, err := nats.Connect(url, nats.Name(fmt.Sprintf("bench-requester-%d", i)))
			if err != nil {
				return nil, err
			}
			ncs[i] = nc
		}
		r := newRecorder()
		name := fmt.Sprintf("nats-req %d client", conc)
		stop := progress(ctx, e.stdout, name, r)
		el := closedLoop(ctx, conc, e.duration, r, func(ctx context.Context, w int) error {
			m, err := ncs[w].RequestWithContext(ctx, "bench.echo", msg)
			if err == nil && len(m.Data) != len(msg) {
				err = fmt.Errorf("reply of %d bytes", len(m.Data))
			}
			return err
		})
		stop()
		for _, nc := range ncs {
			nc.Close()
		}
		res := r.result("floor", name, "closed-loop", 0, conc, el)
		res.Extra = map[string]any{"payload_bytes": len(msg), "layout": "nats-server in its own process; requester and responder in the bench process"}
		e.report(res)
		out = append(out, res)
	}
	return out, nil
}

// floorOf finds the p50 of a floor result by name prefix.
func floorOf(rs []Result, prefix string) float64 {
	for _, r := range rs {
		if strings.HasPrefix(r.Name, prefix) {
			return r.Latency.P50
		}
	}
	return 0
}
