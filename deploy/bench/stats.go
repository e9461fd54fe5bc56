package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/client"
)

// Latency summarises a latency distribution in microseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	Max   float64 `json:"max_us"`
}

// Result is one measured step: what the JSON file holds, one per step.
type Result struct {
	Scenario     string         `json:"scenario"`
	Name         string         `json:"name"`
	Mode         string         `json:"mode"`                    // open-loop or closed-loop
	Offered      float64        `json:"offered_per_s,omitempty"` // open loop: the fixed arrival rate
	Achieved     float64        `json:"achieved_per_s"`          // successful operations per second
	Concurrency  int            `json:"concurrency,omitempty"`   // connections / clients
	Seconds      float64        `json:"seconds"`
	Sent         int64          `json:"sent"`
	OK           int64          `json:"ok"`
	Errors       int64          `json:"errors"`
	ErrorsByCode map[string]int `json:"errors_by_code,omitempty"`
	Latency      Latency        `json:"latency"`
	Extra        map[string]any `json:"extra,omitempty"`
}

// recorder collects latencies and errors of one step; safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	lat    []time.Duration
	errs   map[string]int
	sent   atomic.Int64
	ok     atomic.Int64
	failed atomic.Int64
}

func newRecorder() *recorder { return &recorder{errs: map[string]int{}} }

func (r *recorder) add(d time.Duration, err error) {
	if err != nil {
		r.failed.Add(1)
		r.mu.Lock()
		r.errs[errorCode(err)]++
		r.mu.Unlock()
		return
	}
	r.ok.Add(1)
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

// errorCode names an error for the errors-by-code table.
func errorCode(err error) string {
	var re *client.RPCError
	switch {
	case errors.As(err, &re):
		if name := re.Name(); name != "" {
			return strconv.Itoa(re.Code) + " " + string(name)
		}
		return strconv.Itoa(re.Code)
	case errors.Is(err, errOverload):
		return "overload (not sent: too many in flight)"
	case errors.Is(err, client.ErrConnectionLost):
		return "connection lost"
	case errors.Is(err, client.ErrClosed):
		return "client closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "client timeout"
	}
	return "other: " + truncate(err.Error(), 80)
}

var errOverload = errors.New("overload")

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		i = max(0, min(i, len(s)-1))
		return us(s[i])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{
		Count: len(s), Mean: math.Round(us(sum)/float64(len(s))*10) / 10,
		P50: q(0.50), P90: q(0.90), P99: q(0.99), P999: q(0.999), Max: us(s[len(s)-1]),
	}
}

func us(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)*10) / 10 }

func (r *recorder) result(scenario, name, mode string, offered float64, conc int, elapsed time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Result{
		Scenario: scenario, Name: name, Mode: mode, Offered: offered, Concurrency: conc,
		Seconds: math.Round(elapsed.Seconds()*1000) / 1000,
		Sent:    r.sent.Load(), OK: r.ok.Load(), Errors: r.failed.Load(),
		Latency: summarize(r.lat),
	}
	if len(r.errs) > 0 {
		res.ErrorsByCode = map[string]int{}
		for k, v := range r.errs {
			res.ErrorsByCode[k] = v
		}
	}
	if elapsed > 0 {
		res.Achieved = math.Round(float64(res.OK)/elapsed.Seconds()*10) / 10
	}
	return res
}

// progress prints a line every second while a step runs.
func progress(ctx context.Context, w io.Writer, name string, r *recorder) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		var lastOK int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ok := r.ok.Load()
				r.mu.Lock()
				n := len(r.lat)
				var p99 time.Duration
				if n > 0 { // p99 of the last second's window
					w := r.lat[max(0, n-int(ok-lastOK)):]
					if len(w) > 0 {
						s := append([]time.Duration(nil), w...)
						sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
						p99 = s[min(len(s)-1, int(float64(len(s))*0.99))]
					}
				}
				r.mu.Unlock()
				fmt.Fprintf(w, "  %-28s %5.0fs  sent %8d  ok %8d (%7d/s)  errors %6d  p99(last s) %8.0fµs\n",
					name, time.Since(start).Seconds(), r.sent.Load(), ok, ok-lastOK, r.failed.Load(), us(p99))
				lastOK = ok
			}
		}
	}()
	return func() { cancel(); <-done }
}

// openLoop issues op at a fixed arrival rate for d, each in its own
// goroutine, and measures each latency from its scheduled send time, so a
// stall on the server shows up as latency (no coordinated omission).
// Operations beyond maxInFlight are counted as overload errors and not
// sent. It waits for the operations in flight (up to grace) before returning.
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInFlight int, r *recorder, op func(ctx context.Context, i int64) error) time.Duration {
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	var inflight atomic.Int64
	start := time.Now()
	end := start.Add(d)
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if !due.Before(end) || ctx.Err() != nil {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		r.sent.Add(1)
		if inflight.Load() >= int64(maxInFlight) {
			r.add(0, errOverload)
			continue
		}
		inflight.Add(1)
		wg.Add(1)
		go func(i int64, due time.Time) {
			defer wg.Done()
			defer inflight.Add(-1)
			err := op(ctx, i)
			r.add(time.Since(due), err)
		}(i, due)
	}
	wg.Wait()
	return time.Since(start)
}

// closedLoop runs conc workers that each issue op back to back for d.
func closedLoop(ctx context.Context, conc int, d time.Duration, r *recorder, op func(ctx context.Context, worker int) error) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r.sent.Add(1)
				t := time.Now()
				err := op(ctx, w)
				if err != nil && ctx.Err() != nil {
					r.sent.Add(-1) // cut by the end of the step, not a failure
					return
				}
				r.add(time.Since(t), err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// quietGC collects garbage, then keeps the tool's collector off until the
// returned func restores it, unless the heap grows past 8 GiB: the load
// generator must not stall the deliveries it timestamps. A 20 s step at
// 1,000 callbacks/s allocates ≈ 0.5 GB.
func quietGC() (restore func()) {
	runtime.GC()
	limit := debug.SetMemoryLimit(8 << 30)
	pct := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
	}
}
