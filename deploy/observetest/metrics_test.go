package observetest

import (
	"bufio"
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"confapplet/pkg/testkit/teststack"
)

// madeByPrometheus are series Prometheus makes itself, not scraped.
var madeByPrometheus = map[string]bool{"up": true}

// scrape reads one /metrics page: every sample's value, by its series as
// written ("name{labels}").
func scrape(ctx context.Context, t *testing.T, url string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("%s: bad sample line %q", url, line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// name is the metric name of a series.
func name(series string) string {
	if i := strings.IndexByte(series, '{'); i >= 0 {
		return series[:i]
	}
	return series
}

// checkMetrics scrapes every service and checks that each metric the
// dashboards and the alert rules read is exported, and that the traffic
// drive made shows in the metrics added for them.
func checkMetrics(ctx context.Context, t *testing.T, st *teststack.Stack) {
	exported := map[string]bool{}
	byService := map[string]map[string]float64{}
	services := map[string]*teststack.Service{"svc-callback": st.Callback}
	for i, s := range st.Conferences {
		services["svc-conference-"+strconv.Itoa(i)] = s
	}
	for i, s := range st.Edges {
		services["svc-edge-"+strconv.Itoa(i)] = s
	}
	for svc, s := range services {
		samples := scrape(ctx, t, s.OpsURL()+"/metrics")
		byService[svc] = samples
		for series := range samples {
			exported[name(series)] = true
		}
		if v, ok := samples["confapplet_nats_connected"]; !ok || v != 1 {
			t.Errorf("%s: confapplet_nats_connected = %v (exported %v), want 1", svc, v, ok)
		}
	}
	used := map[string][]string{} // metric → where
	for where, exprs := range dashboardExprs(t) {
		for _, e := range exprs {
			names, err := metricNames(grafanaVars(e))
			if err != nil {
				t.Errorf("%s: %v", where, err)
			}
			for _, n := range names {
				used[n] = append(used[n], where)
			}
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			names, _ := metricNames(r.Expr)
			for _, n := range names {
				used[n] = append(used[n], "alerts.yml: "+r.Alert+r.Record)
			}
		}
	}
	var missing []string
	for n, where := range used {
		if !exported[n] && !madeByPrometheus[n] {
			missing = append(missing, n+" (used by "+strings.Join(where, "; ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("not exported by any service: %s", m)
	}
	if len(used) < 15 {
		t.Errorf("only %d metrics used: the files were not read", len(used))
	}
	checkTrafficShows(t, byService)
}

// checkTrafficShows checks the figures drive's traffic must have moved.
func checkTrafficShows(t *testing.T, byService map[string]map[string]float64) {
	conf, edge, cb := byService["svc-conference-0"], byService["svc-edge-0"], byService["svc-callback"]
	want := []struct {
		what   string
		got    float64
		op     string
		wanted float64
	}{
		{"calls answered", conf[`confapplet_conference_call_results_total{outcome="joined"}`], "==", 2},
		{"calls failed", conf[`confapplet_conference_call_results_total{outcome="failed"}`], "==", 3},
		{"guard refusals", conf[`confapplet_conference_guard_refusals_total{code="number_not_allowed"}`], "==", 1},
		{"budget limit calls_per_minute", conf[`confapplet_conference_budget_limit{limit="calls_per_minute"}`], ">", 0},
		{"conferences live after the deletion", conf[`confapplet_conference_conferences_live`], "==", 0},
		{"events pending", conf[`confapplet_conference_events_pending`], "==", 0},
		{"event lag observations", edge[`confapplet_edge_event_lag_seconds_count`], ">", 0},
		{"mean event lag in seconds, under", edge[`confapplet_edge_event_lag_seconds_sum`] / edge[`confapplet_edge_event_lag_seconds_count`], "<", 5},
		{"tokens refused", edge[`confapplet_edge_rejected_total{reason="auth"}`], "==", 1},
		{"callbacks stored", cb[`confapplet_callback_callbacks_total{kind="invite",outcome="published"}`], "==", 5},
	}
	for _, w := range want {
		if (w.op == "==" && w.got != w.wanted) || (w.op == ">" && !(w.got > w.wanted)) || (w.op == "<" && !(w.got < w.wanted)) {
			t.Errorf("%s: %v, want %s %v", w.what, w.got, w.op, w.wanted)
		}
	}
}
