package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// writePlot draws the callback→browser latency percentiles of each
// fan-out step (one line per rate) as an SVG: percentiles across, latency
// up on a log scale, so p50 and p99 of every rate are read at a glance.
func writePlot(path string, rs []Result) error {
	if len(rs) == 0 {
		return nil
	}
	const (
		w, h                     = 820, 440
		left, right, top, bottom = 70, 290, 50, 70
	)
	labels := []string{"p50", "p90", "p99", "p99.9", "max"}
	values := func(r Result) []float64 {
		l := r.Latency
		return []float64{l.P50 / 1000, l.P90 / 1000, l.P99 / 1000, l.P999 / 1000, l.Max / 1000}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		for _, v := range values(r) {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0.1, 1
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	x := func(i int) float64 { return left + pw*float64(i)/float64(len(labels)-1) }
	y := func(ms float64) float64 {
		ms = max(ms, lo)
		return top + ph*(1-(math.Log10(ms)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	first := rs[0].Extra
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left,
		html.EscapeString(fmt.Sprintf("latency to each watcher: %v conferences × %v watchers, %v connections",
			first["conferences"], first["watchers_per_conf"], first["watcher_connections"])))
	for d := lo; d <= hi*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v > hi*1.0001 {
				break
			}
			fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, float64(left)+pw, y(v), y(v))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g ms</text>`+"\n", left-6, y(v)+4, v)
		}
	}
	for i, l := range labels {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#eee"/>`+"\n", x(i), x(i), top, float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(i), float64(top)+ph+18, l)
	}
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}
	for k, r := range rs {
		c := colors[k%len(colors)]
		var pts bytes.Buffer
		for i, v := range values(r) {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %.2f ms</title></circle>`+"\n", x(i), y(v), c, labels[i], v)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", bytes.TrimSpace(pts.Bytes()), c)
		ly := top + 10 + 66*k
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/>`+"\n", w-right+20, ly, c)
		system, per := "confapplet", "callback"
		if r.Scenario == "peer" {
			system, per = "Centrifugo", "message"
		}
		lines := []string{
			fmt.Sprintf("%s, %v %ss/s", system, r.Extra["callbacks_per_s"], per),
			fmt.Sprintf("p50 %.3g ms, p99 %.3g ms", r.Latency.P50/1000, r.Latency.P99/1000),
			fmt.Sprintf("server CPU %v ms per %s", r.Extra["stack_cpu_ms_per_callback"], per),
			fmt.Sprintf("drops %v, load average %v", r.Extra["drops"], r.Extra["loadavg_1m_at_start"]),
		}
		for i, l := range lines {
			fill := "#555"
			if i == 0 {
				fill = "#000"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", w-right+40, ly+6+14*i, fill, html.EscapeString(l))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%s</text>`+"\n", left, h-14, html.EscapeString(
		"from each message's scheduled send time to its arrival at each watcher; go run ./deploy/bench fanout|peer -rate R,R…"))
	b.WriteString("</svg>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// replot writes the fan-out latency plot (args[0], an SVG) of the fan-out
// and peer steps found in the results files args[1:], in their order.
func replot(args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: bench plot OUT.svg RESULTS.json…")
	}
	var rs []Result
	for _, path := range args[1:] {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var f File
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range f.Results {
			if (r.Scenario == "fanout" && strings.HasPrefix(r.Name, "callback→browser")) ||
				(r.Scenario == "peer" && strings.HasPrefix(r.Name, "centrifugo K=")) {
				rs = append(rs, r)
			}
		}
	}
	if len(rs) == 0 {
		return errors.New("no fan-out step in the results")
	}
	if err := writePlot(args[0], rs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plot: %s (%d steps)\n", args[0], len(rs))
	return nil
}
