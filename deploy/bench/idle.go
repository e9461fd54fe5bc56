package main

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"confapplet/pkg/client"

	"github.com/gorilla/websocket"
)

// scenarioIdle holds N idle WebSocket connections on one edge (a fresh
// stack per N) while the edge pings them, then reports the edge's RSS,
// goroutines, heap and stack growth per connection.
func scenarioIdle(ctx context.Context, e *env) ([]Result, error) {
	var out []Result
	for _, n := range e.idleN {
		res, err := idleStep(ctx, e, n)
		e.close()
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

var idleMetrics = []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "confapplet_edge_connections"}

func idleStep(ctx context.Context, e *env, n int) (Result, error) {
	st, err := startStack(ctx, e, stackOptions{edgeEnv: map[string]string{
		"EDGE_PING_INTERVAL": e.pingIntv.String(),
		"EDGE_MAX_CONNS":     fmt.Sprint(n + 100),
	}})
	if err != nil {
		return Result{}, err
	}
	time.Sleep(time.Second)
	rss0, err := rssKiB(st.edge.Pid())
	if err != nil {
		return Result{}, err
	}
	m0, err := promValues(ctx, st.edge.OpsURL()+"/metrics", idleMetrics...)
	if err != nil {
		return Result{}, err
	}

	// Connect: the handshakes are timed (dial latency).
	r := newRecorder()
	name := fmt.Sprintf("idle %d conns", n)
	stop := progress(ctx, e.stdout, name+" (connecting)", r)
	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	t0 := time.Now()
	cs := make([]*client.Client, n)
	var next atomic.Int64
	done := make(chan struct{})
	for range 64 {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				r.sent.Add(1)
				start := time.Now()
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				id := fmt.Sprintf("idle%d", i)
				c, err := client.Dial(dctx, st.edgeWS, id, withToken(id),
					client.WithDialer(dialer), client.WithKeepAlive(0, 0),
					client.WithHandler(func(client.Notification) {}))
				cancel()
				r.add(time.Since(start), err)
				if err == nil {
					cs[i] = c
				}
			}
		}()
	}
	for range 64 {
		<-done
	}
	stop()
	connectTime := time.Since(t0)
	defer closeClients(cs)
	if r.failed.Load() > 0 {
		fmt.Fprintf(e.stdout, "  %d of %d connections failed: %v\n", r.failed.Load(), n, r.errs)
	}
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}

	// Hold.
	fmt.Fprintf(e.stdout, "  %d connected in %s; holding %s (edge pings every %s)\n", r.ok.Load(), connectTime.Round(time.Millisecond), e.hold, e.pingIntv)
	holdEnd := time.Now().Add(e.hold)
	for time.Now().Before(holdEnd) && ctx.Err() == nil {
		time.Sleep(min(5*time.Second, time.Until(holdEnd)))
		m, _ := promValues(ctx, st.edge.OpsURL()+"/metrics", "confapplet_edge_connections")
		rss, _ := rssKiB(st.edge.Pid())
		fmt.Fprintf(e.stdout, "  %-28s holding, edge connections %6.0f, edge RSS %7.1f MiB\n", name, m["confapplet_edge_connections"], float64(rss)/1024)
	}
	rss1, err := rssKiB(st.edge.Pid())
	if err != nil {
		return Result{}, err
	}
	m1, err := promValues(ctx, st.edge.OpsURL()+"/metrics", idleMetrics...)
	if err != nil {
		return Result{}, err
	}
	alive := 0
	for _, c := range cs {
		if c == nil {
			continue
		}
		if _, ok := c.Connected(); ok {
			alive++
		}
	}
	held := float64(r.ok.Load())
	per := func(a, b float64, unit float64) float64 {
		if held == 0 {
			return 0
		}
		return math.Round((b-a)/held/unit*100) / 100
	}
	res := r.result("idle", name, "hold", 0, n, connectTime)
	res.Extra = map[string]any{
		"connections_held":              r.ok.Load(),
		"connections_alive_at_end":      alive,
		"edge_connections_metric":       m1["confapplet_edge_connections"],
		"hold_seconds":                  e.hold.Seconds(),
		"ping_interval_seconds":         e.pingIntv.Seconds(),
		"edge_rss_before_kib":           rss0,
		"edge_rss_after_kib":            rss1,
		"edge_rss_per_conn_kib":         per(float64(rss0), float64(rss1), 1),
		"edge_goroutines_before":        m0["go_goroutines"],
		"edge_goroutines_after":         m1["go_goroutines"],
		"edge_goroutines_per_conn":      per(m0["go_goroutines"], m1["go_goroutines"], 1),
		"edge_heap_inuse_per_conn_kib":  per(m0["go_memstats_heap_inuse_bytes"], m1["go_memstats_heap_inuse_bytes"], 1024),
		"edge_stack_inuse_per_conn_kib": per(m0["go_memstats_stack_inuse_bytes"], m1["go_memstats_stack_inuse_bytes"], 1024),
		"latency_is":                    "WebSocket handshake (connect) time",
	}
	e.report(res)
	fmt.Fprintf(e.stdout, "  edge: RSS %.1f → %.1f MiB = %.2f KiB/conn; goroutines %.0f → %.0f = %.2f/conn; heap %.2f KiB/conn; stack %.2f KiB/conn; %d/%d alive after the hold\n",
		float64(rss0)/1024, float64(rss1)/1024, res.Extra["edge_rss_per_conn_kib"], m0["go_goroutines"], m1["go_goroutines"],
		res.Extra["edge_goroutines_per_conn"], res.Extra["edge_heap_inuse_per_conn_kib"], res.Extra["edge_stack_inuse_per_conn_kib"], alive, n)
	return res, nil
}
