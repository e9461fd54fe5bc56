package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/client"
)

// dialClients connects n clients named prefix0…prefix(n-1), in parallel.
func dialClients(ctx context.Context, url, prefix string, n, parallel int, opts ...client.Option) ([]*client.Client, error) {
	cs := make([]*client.Client, n)
	var mu sync.Mutex
	var first error
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				id := fmt.Sprintf("%s%d", prefix, i)
				c, err := client.Dial(dctx, url, id, append([]client.Option{withToken(id)}, opts...)...)
				cancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("dial client %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				cs[i] = c
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		closeClients(cs)
		return nil, first
	}
	return cs, nil
}

func closeClients(cs []*client.Client) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range cs {
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			c.Close()
			<-sem
		}()
	}
	wg.Wait()
}

// scenarioRPC measures the floors, then QueryConfState (no platform call)
// and InviteJoinConf (simulator latency 0 and 50 ms) round trips through
// edge → NATS → svc-conference (→ simulator), sweeping the offered rate
// until the knee.
func scenarioRPC(ctx context.Context, e *env) ([]Result, error) {
	floors, err := scenarioFloor(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	e.close() // the floor's helper processes
	floorSum := floorOf(floors, "ws-echo 1 ") + floorOf(floors, "nats-req 1 ")

	st, err := startStack(ctx, e, stackOptions{})
	if err != nil {
		return nil, err
	}
	var notes atomic.Int64
	cs, err := dialClients(ctx, st.edgeWS, "rpc", e.conns, 32,
		client.WithHandler(func(client.Notification) { notes.Add(1) }))
	if err != nil {
		return nil, err
	}
	defer closeClients(cs)
	n := len(cs)
	confs := make([]string, n)
	for i, c := range cs {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		confs[i], err = c.CreateConf(cctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("CreateConf: %w", err)
		}
	}
	call := func(ctx context.Context, f func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return f(cctx)
	}
	var out []Result
	step := func(name string, rate float64, op func(ctx context.Context, i int64) error) Result {
		r := newRecorder()
		stop := progress(ctx, e.stdout, name, r)
		cpu := newCPUMeter(st.pids)
		el := openLoop(ctx, rate, e.duration, e.maxInFlight, r, op)
		stop()
		res := r.result("rpc", name, "open-loop", rate, n, el)
		res.Extra = cpu.extra()
		if floorSum > 0 && strings.HasPrefix(name, "QueryConfState") {
			res.Extra["floor_ws_plus_nats_p50_us"] = floorSum
			res.Extra["p50_over_floor"] = math.Round(res.Latency.P50/floorSum*100) / 100
		}
		e.report(res)
		out = append(out, res)
		return res
	}
	knee := func(res Result) bool {
		return e.kneeStop && (res.Achieved < 0.95*res.Offered || res.Errors > 0)
	}

	// Warm up connections, NATS subscriptions and the service's caches.
	warm := newRecorder()
	openLoop(ctx, 500, time.Second, e.maxInFlight, warm, func(ctx context.Context, i int64) error {
		return call(ctx, func(ctx context.Context) error {
			_, err := cs[i%int64(n)].QueryConfState(ctx, confs[i%int64(n)])
			return err
		})
	})

	// Closed loop, one connection: the same loop as the floors, so its p50
	// compares with theirs directly.
	{
		r := newRecorder()
		name := "QueryConfState closed-loop 1 conn"
		stop := progress(ctx, e.stdout, name, r)
		cpu := newCPUMeter(st.pids)
		profiles := takeProfiles(ctx, e.stdout, e.profileDir, "closed-loop", e.duration/2)
		el := closedLoop(ctx, 1, e.duration, r, func(ctx context.Context, _ int) error {
			return call(ctx, func(ctx context.Context) error { _, err := cs[0].QueryConfState(ctx, confs[0]); return err })
		})
		stop()
		profiles()
		res := r.result("rpc", name, "closed-loop", 0, 1, el)
		res.Extra = cpu.extra()
		if floorSum > 0 {
			res.Extra["floor_ws_plus_nats_p50_us"] = floorSum
			res.Extra["p50_over_floor"] = math.Round(res.Latency.P50/floorSum*100) / 100
		}
		e.report(res)
		out = append(out, res)
	}

	for _, rate := range e.rates {
		res := step(fmt.Sprintf("QueryConfState @%g/s", rate), rate, func(ctx context.Context, i int64) error {
			k := i % int64(n)
			return call(ctx, func(ctx context.Context) error { _, err := cs[k].QueryConfState(ctx, confs[k]); return err })
		})
		if knee(res) || ctx.Err() != nil {
			break
		}
	}

	// InviteJoinConf: every invite dials a (simulated) call, so each step
	// gets fresh conferences with at most membersPerConf invites each.
	const membersPerConf = 40
	var number atomic.Int64
	for _, lat := range e.simLatency {
		if err := st.setSimLatency(ctx, lat); err != nil {
			return out, err
		}
		for _, rate := range e.inviteRates {
			total := int(rate*e.duration.Seconds()) + 1
			pool := make([]struct {
				owner int
				conf  string
			}, (total+membersPerConf-1)/membersPerConf)
			var wg sync.WaitGroup
			var perr atomic.Value
			sem := make(chan struct{}, n)
			for j := range pool {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					pool[j].owner = j % n
					err := call(ctx, func(ctx context.Context) error {
						var err error
						pool[j].conf, err = cs[j%n].CreateConf(ctx)
						return err
					})
					if err != nil {
						perr.Store(err)
					}
				}()
			}
			wg.Wait()
			if err, _ := perr.Load().(error); err != nil {
				return out, fmt.Errorf("CreateConf for invites: %w", err)
			}
			res := step(fmt.Sprintf("InviteJoinConf sim %s @%g/s", lat, rate), rate, func(ctx context.Context, i int64) error {
				p := pool[i%int64(len(pool))]
				num := fmt.Sprintf("139%08d", number.Add(1)%100000000)
				return call(ctx, func(ctx context.Context) error { _, err := cs[p.owner].InviteJoinConf(ctx, p.conf, num); return err })
			})
			res.Extra["sim_latency_ms"] = lat.Milliseconds()
			if knee(res) || ctx.Err() != nil {
				break
			}
		}
	}
	fmt.Fprintf(e.stdout, "  notifications received by the rpc clients meanwhile: %d\n", notes.Load())
	return out, nil
}
