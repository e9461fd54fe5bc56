package observetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// panel is the part of a Grafana panel the checks read.
type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// dashboardExprs reads every dashboard in deploy/grafana and returns its
// queries, by "file: panel title".
func dashboardExprs(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in deploy/grafana (%v)", err)
	}
	out := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string  `json:"uid"`
			Title  string  `json:"title"`
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid and title are required", f)
		}
		ids := map[int]bool{}
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				if ids[p.ID] {
					t.Errorf("%s: panel id %d repeated", f, p.ID)
				}
				ids[p.ID] = true
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", f, p.Title)
				}
				for _, tg := range p.Targets {
					key := filepath.Base(f) + ": " + p.Title
					out[key] = append(out[key], tg.Expr)
				}
			}
		}
		walk(d.Panels)
	}
	return out
}

// grafanaVars replaces Grafana's interval variables by a duration, so the
// query parses as the PromQL Grafana sends.
func grafanaVars(expr string) string {
	for _, v := range []string{"$__rate_interval", "$__interval", "$__range"} {
		expr = strings.ReplaceAll(expr, v, "5m")
	}
	return expr
}

// TestDashboardQueriesParse checks every dashboard query parses.
func TestDashboardQueriesParse(t *testing.T) {
	n := 0
	for where, exprs := range dashboardExprs(t) {
		for _, e := range exprs {
			n++
			if _, err := metricNames(grafanaVars(e)); err != nil {
				t.Errorf("%s: %q: %v", where, e, err)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d queries found: the dashboard format was not understood", n)
	}
}
