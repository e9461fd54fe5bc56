package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/testkit"

	"github.com/centrifugal/centrifuge-go"
)

// The peer scenario runs fan-out's workload against Centrifugo, the fan-out
// server the event path is compared with, with the same tool on the same
// machine: K channels × W subscribers, one channel per WebSocket, history and
// recovery on (so it too can resume clients), the memory engine, messages
// published through its HTTP API at a fixed rate, latency from each
// message's scheduled send time to its arrival at each subscriber, and the
// server's CPU per published message. The binary is not part of the
// project: build it with
//
//	GOBIN=/tmp/cf go install github.com/centrifugal/centrifugo/v6@v6.9.1
//
// and pass -centrifugo /tmp/cf/centrifugo.

const peerAPIKey = "bench-api-key"

// scenarioPeer runs peerStep once per rate of -rate, each on a fresh server.
func scenarioPeer(ctx context.Context, e *env) ([]Result, error) {
	if e.centrifugo == "" {
		return nil, errors.New("peer: -centrifugo (a Centrifugo binary) is required")
	}
	return perRate(ctx, e, peerStep)
}

// startCentrifugo starts the server with history and recovery on every
// channel and returns its pid and HTTP address.
func startCentrifugo(ctx context.Context, e *env) (int, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"engine":      map[string]any{"type": "memory"},
		"client":      map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
		"http_api":    map[string]any{"key": peerAPIKey},
		"channel": map[string]any{"without_namespace": map[string]any{
			"history_size": 100, "history_ttl": "300s", "force_recovery": true,
			"allow_subscribe_for_client": true,
		}},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	path := filepath.Join(e.dir, "centrifugo.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return 0, "", err
	}
	p := testkit.NewProc("centrifugo", e.centrifugo, e.dir, []string{"--config", path}, nil)
	if err := p.Start(); err != nil {
		return 0, "", err
	}
	e.onStop(func() { p.Stop(10 * time.Second) })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := testkit.WaitTCP(ctx, addr, 15*time.Second, p); err != nil {
		return 0, "", err
	}
	return p.Pid(), addr, nil
}

func peerStep(ctx context.Context, e *env) ([]Result, error) {
	pid, addr, err := startCentrifugo(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("centrifugo: %w", err)
	}
	K, W := e.confs, e.watchers
	nconn := K * W
	total := int(e.fanRate*e.duration.Seconds()) + 1
	due := make([]atomic.Int64, total)
	got := make([]atomic.Int32, total)
	deliver := newRecorder()
	var delivered, subscribed atomic.Int64
	onPub := func(ev centrifuge.PublicationEvent) {
		now := time.Now()
		var m struct {
			I int `json:"i"`
		}
		if json.Unmarshal(ev.Data, &m) != nil || m.I < 0 || m.I >= total {
			return
		}
		delivered.Add(1)
		got[m.I].Add(1)
		deliver.add(now.Sub(time.Unix(0, due[m.I].Load())), nil)
	}
	clients := make([]*centrifuge.Client, nconn)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	url := "ws://" + addr + "/connection/websocket"
	var wg sync.WaitGroup
	var cerr atomic.Value
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			for {
				j := int(next.Add(1) - 1)
				if j >= nconn {
					return
				}
				c := centrifuge.NewJsonClient(url, centrifuge.Config{})
				clients[j] = c
				sub, err := c.NewSubscription("conf"+strconv.Itoa(j%K), centrifuge.SubscriptionConfig{Recoverable: true, Positioned: true})
				if err != nil {
					cerr.Store(err)
					return
				}
				done := make(chan struct{})
				var once sync.Once
				sub.OnSubscribed(func(centrifuge.SubscribedEvent) { subscribed.Add(1); once.Do(func() { close(done) }) })
				sub.OnPublication(onPub)
				if err := sub.Subscribe(); err != nil {
					cerr.Store(err)
					return
				}
				if err := c.Connect(); err != nil {
					cerr.Store(err)
					return
				}
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					cerr.Store(fmt.Errorf("subscriber %d: not subscribed after 30 s", j))
					return
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := cerr.Load().(error); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stdout, "  centrifugo: %d channels, %d subscribers each, %d connections\n", K, W, nconn)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 15 * time.Second}
	defer hc.CloseIdleConnections()
	post := newRecorder()
	stop := progress(ctx, e.stdout, "deliveries", deliver)
	self := os.Getpid()
	cpu := newCPUMeter(map[string]int{"centrifugo": pid, "bench": self})
	defer quietGC()()
	start := time.Now()
	el := openLoop(ctx, e.fanRate, e.duration, e.maxInFlight, post, func(ctx context.Context, i int64) error {
		due[i].Store(start.Add(time.Duration(float64(i) / e.fanRate * float64(time.Second))).UnixNano())
		body := fmt.Sprintf(`{"channel":"conf%d","data":{"i":%d,"number":"138%08d","callid":"b%031d"}}`, i%int64(K), i, i%100000000, i)
		return postBody(ctx, hc, "http://"+addr+"/api/publish", body, "Content-Type", "application/json", "X-API-Key", peerAPIKey)
	})
	expected := post.ok.Load() * int64(W)
	awaitDeliveries(ctx, &delivered, expected)
	window := time.Since(start)
	stop()
	pres := post.result("peer", fmt.Sprintf("centrifugo publish @%g/s", e.fanRate), "open-loop", e.fanRate, 0, el)
	e.report(pres)
	dres := deliver.result("peer", fmt.Sprintf("centrifugo K=%d W=%d", K, W), "open-loop", e.fanRate*float64(W), nconn, window)
	dres.Achieved = float64(int(float64(delivered.Load())/el.Seconds()*10)) / 10
	dres.Extra = cpu.extra()
	perMsg, server := cpu.perOp(post.ok.Load())
	dres.Extra["cpu_ms_per_callback"] = perMsg
	dres.Extra["stack_cpu_ms_per_callback"] = server
	dres.Extra["publishes_ok"] = post.ok.Load()
	dres.Extra["deliveries_expected"] = expected
	dres.Extra["deliveries"] = delivered.Load()
	dres.Extra["drops"] = expected - delivered.Load()
	dres.Extra["subscribed"] = subscribed.Load()
	dres.Extra["callbacks_per_s"] = e.fanRate // the names fanout's plot reads
	dres.Extra["conferences"] = K
	dres.Extra["watchers_per_conf"] = W
	dres.Extra["watcher_connections"] = nconn
	e.report(dres)
	fmt.Fprintf(e.stdout, "  deliveries %d of %d expected, drops %d\n", delivered.Load(), expected, expected-delivered.Load())
	fmt.Fprintf(e.stdout, "  CPU per message: server %.3f ms (%s)\n", server, msList(perMsg))
	return []Result{pres, dres}, nil
}
