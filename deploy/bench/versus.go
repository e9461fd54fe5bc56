package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// The versus scenario states the event path's figures the way a shared
// machine can check them: as ratios to the peer (Centrifugo, peer.go)
// measured in the same run. It runs fanout's step and peer's step
// alternately, -runs times each per rate, every step on a fresh server,
// and compares the medians: server CPU per callback (per message for the
// peer), p50 and p99. A machine that is slower today slows both; a run
// whose neighbours are noisy shows in both sides' spread. Targets are
// -max-cpu-ratio and -max-p99-ratio; confapplet must also lose, duplicate
// and reorder nothing.

// sideFigures are one system's figures at one rate, one value per run.
type sideFigures struct {
	p50, p99, cpu []float64 // µs, µs, ms per message
	faults        int64     // drops, seq gaps, duplicates and events reported lost (confapplet)
}

func (f *sideFigures) add(r Result) {
	f.p50 = append(f.p50, r.Latency.P50)
	f.p99 = append(f.p99, r.Latency.P99)
	cpu, _ := r.Extra["stack_cpu_ms_per_callback"].(float64)
	f.cpu = append(f.cpu, cpu)
	for _, k := range []string{"drops", "seq_gaps", "seq_duplicates", "events_lost_notified"} {
		switch n := r.Extra[k].(type) {
		case int64:
			f.faults += n
		case uint64:
			f.faults += int64(n)
		}
	}
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func scenarioVersus(ctx context.Context, e *env) ([]Result, error) {
	if e.centrifugo == "" {
		return nil, errors.New("versus: -centrifugo (a Centrifugo binary) is required")
	}
	if e.runs < 1 {
		return nil, errors.New("versus: -runs must be at least 1")
	}
	var all, plotted []Result
	var verdicts []string
	for _, rate := range e.fanRates {
		e.fanRate = rate
		var ours, theirs sideFigures
		var lastOurs, lastTheirs Result
		for run := 1; run <= e.runs; run++ {
			for _, side := range []struct {
				figs *sideFigures
				last *Result
				step func(context.Context, *env) ([]Result, error)
			}{{&ours, &lastOurs, fanoutStep}, {&theirs, &lastTheirs, peerStep}} {
				e.close()
				rs, err := side.step(ctx, e)
				all = append(all, rs...)
				if err != nil {
					return all, err
				}
				*side.last = rs[len(rs)-1]
				side.figs.add(*side.last)
			}
		}
		e.close()
		plotted = append(plotted, lastOurs, lastTheirs)
		cpuR := median(ours.cpu) / median(theirs.cpu)
		p50R := median(ours.p50) / median(theirs.p50)
		p99R := median(ours.p99) / median(theirs.p99)
		met := cpuR <= e.maxCPURatio && p99R <= e.maxP99Ratio && ours.faults == 0
		verdict := "met"
		if !met {
			verdict = "missed"
		}
		res := Result{Scenario: "versus", Name: fmt.Sprintf("confapplet ÷ centrifugo @%g/s", rate), Mode: "ratio",
			Offered: rate, Extra: map[string]any{
				"runs": e.runs, "cpu_ratio": round3(cpuR), "p50_ratio": round3(p50R), "p99_ratio": round3(p99R),
				"max_cpu_ratio": e.maxCPURatio, "max_p99_ratio": e.maxP99Ratio, "met": met,
				"confapplet_cpu_ms": ours.cpu, "centrifugo_cpu_ms": theirs.cpu,
				"confapplet_p50_us": ours.p50, "centrifugo_p50_us": theirs.p50,
				"confapplet_p99_us": ours.p99, "centrifugo_p99_us": theirs.p99,
				"confapplet_drops_gaps_duplicates": ours.faults,
			}}
		e.results = append(e.results, res)
		all = append(all, res)
		line := fmt.Sprintf("versus   @%g/s, median of %d alternated runs: CPU %.3f vs %.3f ms (%.2f×, target ≤ %.2f×), p50 %.2f vs %.2f ms (%.2f×), p99 %.2f vs %.2f ms (%.2f×, target ≤ %.2f×), confapplet drops+gaps+duplicates %d: %s",
			rate, e.runs, median(ours.cpu), median(theirs.cpu), cpuR, e.maxCPURatio,
			median(ours.p50)/1000, median(theirs.p50)/1000, p50R,
			median(ours.p99)/1000, median(theirs.p99)/1000, p99R, e.maxP99Ratio, ours.faults, verdict)
		fmt.Fprintln(e.stdout, line)
		verdicts = append(verdicts, line)
	}
	if err := writePlot(e.plot, plotted); err != nil {
		return all, err
	}
	fmt.Fprintf(e.stdout, "  plot: %s\n", e.plot)
	for _, v := range verdicts {
		fmt.Fprintln(e.stdout, v)
	}
	return all, nil
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }
