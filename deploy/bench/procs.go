package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rssKiB reads VmRSS of pid from /proc.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) > 0 {
				return strconv.ParseInt(fields[0], 10, 64)
			}
		}
	}
	return 0, errors.New("VmRSS not found")
}

// promValues reads the named unlabelled samples from a Prometheus text page.
func promValues(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// cpuSeconds reads the user+system CPU time pid has used, from /proc (the
// clock tick is 100 Hz on Linux).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("bad /proc stat")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat")
	}
	return (ut + st) / 100, nil
}

// loadAvg is the 1-minute load average (the machine may be shared).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// cpuMeter measures the CPU each process of a set uses during a step.
type cpuMeter struct {
	pids  map[string]int
	start map[string]float64
	t0    time.Time
	load  float64
}

func newCPUMeter(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]float64{}, t0: time.Now(), load: loadAvg()}
	for name, pid := range pids {
		m.start[name], _ = cpuSeconds(pid)
	}
	return m
}

// extra returns, per process, the share of one core used since the start
// (1.0 = one core busy), and the machine's load average at the start.
func (m *cpuMeter) extra() map[string]any {
	el := time.Since(m.t0).Seconds()
	cores := map[string]float64{}
	for name, pid := range m.pids {
		if v, err := cpuSeconds(pid); err == nil && el > 0 {
			cores[name] = float64(int((v-m.start[name])/el*100+0.5)) / 100
		}
	}
	return map[string]any{"cpu_cores_used": cores, "loadavg_1m_at_start": m.load}
}

// perOp returns, per process, the CPU milliseconds used since the start per
// operation (n operations), and their sum over the confapplet processes
// (the stack without the simulator and the load tool itself).
func (m *cpuMeter) perOp(n int64) (per map[string]float64, stack float64) {
	per = map[string]float64{}
	if n <= 0 {
		return per, 0
	}
	for name, pid := range m.pids {
		v, err := cpuSeconds(pid)
		if err != nil {
			continue
		}
		ms := (v - m.start[name]) * 1000 / float64(n)
		per[name] = math.Round(ms*1000) / 1000
		if name != "bench" && name != "ytxsim" {
			stack += ms
		}
	}
	return per, math.Round(stack*1000) / 1000
}

// raiseFileLimit lifts the open-file soft limit to the hard limit: a fan-out
// of 10,000 connections needs 10,000 descriptors in the tool and as many in
// the edge, which inherits the limit.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// msList formats per-process milliseconds, sorted by name.
func msList(per map[string]float64) string {
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.3f", n, per[n])
	}
	return strings.Join(parts, ", ")
}
