package main

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The plot is well-formed SVG with one line per rate and the rates in its
// legend.
func TestWritePlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.svg")
	rs := []Result{
		{Latency: Latency{P50: 900, P90: 1400, P99: 1900, P999: 4000, Max: 9000}, Extra: map[string]any{"callbacks_per_s": 300.0}},
		{Latency: Latency{P50: 1200, P90: 2400, P99: 9500, P999: 20000, Max: 40000}, Extra: map[string]any{"callbacks_per_s": 1000.0}},
	}
	if err := writePlot(path, rs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(b)))
	lines := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 2 || !strings.Contains(string(b), "300 callbacks/s") || !strings.Contains(string(b), "1000 callbacks/s") {
		t.Fatalf("%d lines; %s", lines, b)
	}
}

// versus compares medians of alternated runs, and counts every delivery
// fault whatever integer type a step recorded it as.
func TestVersusFigures(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3, 1, 2 = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4, 1, 3, 2 = %v", m)
	}
	var f sideFigures
	f.add(Result{Latency: Latency{P50: 1500, P99: 9000}, Extra: map[string]any{"stack_cpu_ms_per_callback": 1.2,
		"drops": int64(1), "seq_gaps": uint64(2), "seq_duplicates": uint64(0), "events_lost_notified": uint64(3)}})
	f.add(Result{Latency: Latency{P50: 1700, P99: 12000}, Extra: map[string]any{"stack_cpu_ms_per_callback": 1.3, "drops": int64(0)}})
	if f.faults != 6 || median(f.cpu) != 1.25 || median(f.p99) != 10500 {
		t.Errorf("faults %d, cpu %v, p99 %v", f.faults, f.cpu, f.p99)
	}
	e := &env{runs: 1}
	if _, err := scenarioVersus(context.Background(), e); err == nil || !strings.Contains(err.Error(), "-centrifugo") {
		t.Errorf("versus without a peer binary: %v", err)
	}
}
