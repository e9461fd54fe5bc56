package main

import (
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
