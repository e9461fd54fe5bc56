package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/client"
	"confapplet/pkg/contract"
)

// scenarioFanout runs one fan-out step per rate of -rate, each on a fresh
// stack, and plots the latency percentiles of each.
func scenarioFanout(ctx context.Context, e *env) ([]Result, error) {
	return perRate(ctx, e, fanoutStep)
}

// perRate runs step once per rate of -rate, each on a fresh server, and
// plots the latency percentiles of each step's last result (fanout, peer).
func perRate(ctx context.Context, e *env, step func(context.Context, *env) ([]Result, error)) ([]Result, error) {
	var all, plotted []Result
	for i, rate := range e.fanRates {
		if i > 0 {
			e.close()
		}
		e.fanRate = rate
		rs, err := step(ctx, e)
		all = append(all, rs...)
		if err != nil {
			return all, err
		}
		plotted = append(plotted, rs[len(rs)-1])
	}
	if err := writePlot(e.plot, plotted); err != nil {
		return all, err
	}
	fmt.Fprintf(e.stdout, "  plot: %s\n", e.plot)
	return all, nil
}

// fanoutStep posts "joined" callbacks to svc-callback at a fixed rate,
// round-robin over K conferences, each watched by W watcher connections,
// and measures callback-to-browser latency (from the callback's scheduled
// send time to the notification's arrival at each watcher), deliveries per
// second, and drops (deliveries missing at the end, seq gaps, duplicates).
func fanoutStep(ctx context.Context, e *env) ([]Result, error) {
	st, err := startStack(ctx, e, stackOptions{})
	if err != nil {
		return nil, err
	}
	K, W := e.confs, e.watchers
	perConn := min(e.confsPerConn, K)

	// Owners create the conferences, then leave (an owner is a watcher too).
	owners, err := dialClients(ctx, st.edgeWS, "fo", min(32, K), 32, client.WithHandler(func(client.Notification) {}))
	if err != nil {
		return nil, err
	}
	confs := make([]string, K)
	var wg sync.WaitGroup
	var cerr atomic.Value
	var next atomic.Int64
	for _, o := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= K {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				c, err := o.CreateConf(cctx)
				cancel()
				if err != nil {
					cerr.Store(err)
					return
				}
				confs[i] = c
			}
		}()
	}
	wg.Wait()
	closeClients(owners)
	if err, _ := cerr.Load().(error); err != nil {
		return nil, fmt.Errorf("CreateConf: %w", err)
	}

	// Watchers: W × ceil(K/perConn) connections, connection j watches group
	// j % groups.
	groups := (K + perConn - 1) / perConn
	nconn := W * groups
	total := int(e.fanRate*e.duration.Seconds()) + 1
	due := make([]atomic.Int64, total)
	got := make([]atomic.Int32, total) // deliveries per callback
	deliver := newRecorder()
	var delivered, foreign atomic.Int64
	handler := func(n client.Notification) {
		if n.Method != contract.NotifyInviteJoin {
			return
		}
		var p struct {
			CallID string `json:"callid"`
		}
		if json.Unmarshal(n.Params, &p) != nil || !strings.HasPrefix(p.CallID, "b") {
			return
		}
		i, err := strconv.Atoi(p.CallID[1:])
		if err != nil || i < 0 || i >= total {
			foreign.Add(1)
			return
		}
		delivered.Add(1)
		got[i].Add(1)
		deliver.add(n.Received.Sub(time.Unix(0, due[i].Load())), nil)
	}
	watchers, err := dialClients(ctx, st.edgeWS, "fw", nconn, 64,
		client.WithOperator(benchOperator), client.WithHandler(handler), client.WithBuffer(4096))
	if err != nil {
		return nil, err
	}
	defer closeClients(watchers)
	next.Store(0)
	for range min(64, nconn) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= nconn {
					return
				}
				g := j % groups
				for k := g * perConn; k < min(K, (g+1)*perConn); k++ {
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					_, err := watchers[j].WatchConf(cctx, confs[k], 0)
					cancel()
					if err != nil {
						cerr.Store(fmt.Errorf("WatchConf %s: %w", confs[k], err))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := cerr.Load().(error); err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // let the replays of the created events pass
	fmt.Fprintf(e.stdout, "  %d conferences, %d watchers each, %d watcher connections (%d conferences each)\n", K, W, nconn, perConn)

	// Callbacks, open loop.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 15 * time.Second}
	defer hc.CloseIdleConnections()
	post := newRecorder()
	stamp := time.Now().In(time.FixedZone("CST", 8*3600)).Format(contract.TimeLayout)
	name := fmt.Sprintf("callback POST @%g/s", e.fanRate)
	stop := progress(ctx, e.stdout, "deliveries", deliver)
	cpu := newCPUMeter(st.pids)
	profiles := takeProfiles(ctx, e.stdout, e.profileDir, fmt.Sprintf("%g", e.fanRate), e.duration/2)
	// The tool holds 10,000 client connections (≈ 100 MB live, 33 MB of
	// stacks): its own collections took 200–270 ms of marking every 4 s on
	// the two cores and showed up as the stack's p99. Collect now and not
	// again during the step unless memory runs short (quietGC).
	defer quietGC()()
	start := time.Now()
	el := openLoop(ctx, e.fanRate, e.duration, e.maxInFlight, post, func(ctx context.Context, i int64) error {
		due[i].Store(start.Add(time.Duration(float64(i) / e.fanRate * float64(time.Second))).UnixNano())
		body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Request><confid>%s</confid><callid>b%031d</callid><number>138%08d</number><jointime>%s</jointime><result>0</result></Request>`,
			confs[i%int64(K)], i, i%100000000, stamp)
		return postBody(ctx, hc, st.callbackURL+"/"+contract.KindJoined, body, "Content-Type", "text/plain")
	})
	expected := post.ok.Load() * int64(W)
	awaitDeliveries(ctx, &delivered, expected)
	deliveryWindow := time.Since(start)
	stop()
	profiles()

	pres := post.result("fanout", name, "open-loop", e.fanRate, 0, el)
	e.report(pres)
	dres := deliver.result("fanout", fmt.Sprintf("callback→browser K=%d W=%d", K, W), "open-loop", e.fanRate*float64(W), nconn, deliveryWindow)
	var gaps, dups, lost uint64
	for _, w := range watchers {
		s := w.Stats()
		gaps += s.Gaps
		dups += s.Duplicates
		lost += s.Lost
	}
	drops := expected - delivered.Load()
	dres.Achieved = math.Round(float64(delivered.Load())/el.Seconds()*10) / 10
	dres.Extra = cpu.extra()
	perCB, stackCB := cpu.perOp(post.ok.Load())
	dres.Extra["cpu_ms_per_callback"] = perCB
	dres.Extra["stack_cpu_ms_per_callback"] = stackCB
	for k, v := range map[string]any{
		"callbacks_ok":          post.ok.Load(),
		"deliveries_expected":   expected,
		"deliveries":            delivered.Load(),
		"drops":                 drops,
		"seq_gaps":              gaps,
		"seq_duplicates":        dups,
		"events_lost_notified":  lost,
		"foreign_notifications": foreign.Load(),
		"conferences":           K,
		"watchers_per_conf":     W,
		"watcher_connections":   nconn,
		"confs_per_connection":  perConn,
		"callbacks_per_s":       e.fanRate,
	} {
		dres.Extra[k] = v
	}
	var missing []string
	var missingIdx []int
	for i := range int(post.sent.Load()) {
		if c := got[i].Load(); c != int32(W) && len(missing) < 10 {
			missing = append(missing, fmt.Sprintf("b%031d (conf %s): %d of %d", i, confs[i%K], c, W))
			missingIdx = append(missingIdx, i)
		}
	}
	if len(missing) > 0 {
		dres.Extra["missing_examples"] = missing
		dres.Extra["missing_replayed_by_a_new_watch"] = checkReplay(ctx, st, confs, K, missingIdx[:min(3, len(missingIdx))])
		fmt.Fprintf(e.stdout, "  callbacks not delivered to every watcher (first %d): %s\n", len(missing), strings.Join(missing, "; "))
	}
	e.report(dres)
	fmt.Fprintf(e.stdout, "  deliveries %d of %d expected (%.0f/s), drops %d, seq gaps %d, duplicates %d\n",
		delivered.Load(), expected, dres.Achieved, drops, gaps, dups)
	fmt.Fprintf(e.stdout, "  CPU per callback: stack %.3f ms (%s)\n", stackCB, msList(perCB))
	return []Result{pres, dres}, nil
}

// checkReplay watches the conferences of a few undelivered callbacks from
// seq 0 on a new connection and reports which of those callbacks the
// stream replays: stored but not delivered live, or never stored.
func checkReplay(ctx context.Context, st *stack, confs []string, K int, idx []int) map[string]bool {
	seen := map[string]bool{}
	var mu sync.Mutex
	c, err := client.Dial(ctx, st.edgeWS, "fanout-check", withToken("fanout-check"), client.WithOperator(benchOperator), client.WithHandler(func(n client.Notification) {
		var p struct {
			CallID string `json:"callid"`
		}
		if json.Unmarshal(n.Params, &p) == nil {
			mu.Lock()
			seen[p.CallID] = true
			mu.Unlock()
		}
	}))
	if err != nil {
		return nil
	}
	defer c.Close()
	for _, i := range idx {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c.WatchConf(cctx, confs[i%K], 0)
		cancel()
	}
	time.Sleep(2 * time.Second)
	out := map[string]bool{}
	mu.Lock()
	defer mu.Unlock()
	for _, i := range idx {
		id := fmt.Sprintf("b%031d", i)
		out[id] = seen[id]
	}
	return out
}

// postBody POSTs body to url with the header pairs kv and wants a 2xx.
func postBody(ctx context.Context, hc *http.Client, url, body string, kv ...string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// awaitDeliveries waits up to 10 s for delivered to reach expected.
func awaitDeliveries(ctx context.Context, delivered *atomic.Int64, expected int64) {
	deadline := time.Now().Add(10 * time.Second)
	for delivered.Load() < expected && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
}
