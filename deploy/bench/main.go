// Command bench is confapplet's load tool (issue 8). It measures every speed
// claim next to its floor, with an open-loop fixed arrival rate (latency
// from the scheduled send time), and writes the results as JSON.
//
//	go run ./deploy/bench floor   # bare WebSocket echo and NATS request/reply round trips
//	go run ./deploy/bench rpc     # QueryConfState / InviteJoinConf through edge+NATS+conference+simulator, rate sweep
//	go run ./deploy/bench fanout  # callbacks → svc-callback → browsers: K conferences × W watchers
//	go run ./deploy/bench idle    # N idle WebSockets on one edge: RSS, goroutines, heap, stack per connection
//	go run ./deploy/bench peer -centrifugo BIN   # fanout's workload on Centrifugo, the peer (peer.go)
//	go run ./deploy/bench all -duration 10s   # a smoke of every scenario
//
// The stack runs as separate processes (nats-server, svc-conference,
// svc-callback, svc-edge, the simulator), built with `go build` from the
// workspace; run `go run ./deploy/bench <scenario> -h` for the flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"confapplet/pkg/testkit"
)

func main() {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// env is what a scenario runs with.
type env struct {
	stdout io.Writer
	dir    string // work dir: binaries, logs, stores
	build  *testkit.Builder
	stops  []func()

	duration  time.Duration
	floorConc []int

	// rpc
	rates       []float64
	inviteRates []float64
	conns       int
	simLatency  []time.Duration
	kneeStop    bool
	maxInFlight int

	// fanout
	confs        int
	watchers     int
	confsPerConn int
	fanRate      float64   // the step's rate (one of fanRates)
	fanRates     []float64 // callbacks per second, one step each
	plot         string    // fanout: SVG plot of the latency percentiles per rate
	profileDir   string    // fanout: CPU profiles of the services, "" = none
	centrifugo   string    // peer: the Centrifugo binary (peer.go)
	runs         int       // versus: alternated runs per system and rate
	maxCPURatio  float64   // versus: targets (versus.go)
	maxP99Ratio  float64

	// idle
	idleN    []int
	hold     time.Duration
	pingIntv time.Duration

	results []Result
}

func (e *env) onStop(f func()) { e.stops = append(e.stops, f) }

// newBuilder compiles the stack's binaries into dir, statically as the
// images are built (CGO_ENABLED=0), each once per run.
func newBuilder(root, dir string) *testkit.Builder {
	return &testkit.Builder{Root: root, Dir: dir, Env: []string{"CGO_ENABLED=0"}}
}

func (e *env) close() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
	e.stops = nil
}

// report prints one result line and keeps the result for the JSON file.
func (e *env) report(r Result) {
	e.results = append(e.results, r)
	l := r.Latency
	rate := ""
	if r.Offered > 0 {
		rate = fmt.Sprintf("offered %8.0f/s ", r.Offered)
	}
	fmt.Fprintf(e.stdout, "%-8s %-34s %sachieved %8.0f/s  p50 %7.0fµs p90 %7.0fµs p99 %7.0fµs p99.9 %7.0fµs max %7.0fµs  ok %d err %d",
		r.Scenario, r.Name, rate, r.Achieved, l.P50, l.P90, l.P99, l.P999, l.Max, r.OK, r.Errors)
	if len(r.ErrorsByCode) > 0 {
		b, _ := json.Marshal(r.ErrorsByCode)
		fmt.Fprintf(e.stdout, " %s", b)
	}
	fmt.Fprintln(e.stdout)
	if cores, ok := r.Extra["cpu_cores_used"].(map[string]float64); ok {
		names := make([]string, 0, len(cores))
		for n := range cores {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(e.stdout, "         cpu (cores busy):")
		for _, n := range names {
			fmt.Fprintf(e.stdout, " %s %.2f", n, cores[n])
		}
		fmt.Fprintf(e.stdout, "; machine load average %.1f\n", r.Extra["loadavg_1m_at_start"])
	}
}

var scenarios = map[string]func(context.Context, *env) ([]Result, error){
	"floor":  scenarioFloor,
	"rpc":    scenarioRPC,
	"fanout": scenarioFanout,
	"idle":   scenarioIdle,
	"peer":   scenarioPeer,
	"versus": scenarioVersus,
}

// run parses args (scenario, then flags) and runs the scenario.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: bench floor|rpc|fanout|idle|peer|versus|all [flags]   (bench <scenario> -h for flags)")
		fmt.Fprintln(stderr, "       bench plot OUT.svg RESULTS.json…   (the fan-out latency plot of earlier runs)")
		return errors.New("no scenario")
	}
	scenario := args[0]
	if scenario == "plot" {
		return replot(args[1:], stdout)
	}
	raiseFileLimit()
	if _, ok := scenarios[scenario]; !ok && scenario != "all" {
		return fmt.Errorf("unknown scenario %q", scenario)
	}
	fs := flag.NewFlagSet("bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		root, out, workdir, floorConc, rates, inviteRates, simLat, idleN, fanRates string
		keep                                                                       bool
	)
	e := &env{stdout: stdout}
	fs.DurationVar(&e.duration, "duration", 10*time.Second, "length of each measured step")
	fs.StringVar(&out, "out", "", "JSON results file (default <root>/artifacts/bench/<scenario>.json)")
	fs.StringVar(&root, "root", "", "workspace root (default: the directory holding go.work, found upward)")
	fs.StringVar(&workdir, "workdir", "", "work dir for binaries, logs and stores (default: a temporary dir)")
	fs.BoolVar(&keep, "keep", false, "keep the work dir")
	fs.StringVar(&floorConc, "floor-conc", "1,16", "floor: concurrent clients, one step each")
	fs.StringVar(&rates, "rates", "1000,2000,5000,10000,15000,20000", "rpc: QueryConfState offered rates (per s), swept in order")
	fs.StringVar(&inviteRates, "invite-rates", "50,100,200,400", "rpc: InviteJoinConf offered rates (per s), swept in order")
	fs.IntVar(&e.conns, "conns", 32, "rpc: WebSocket connections (one client id each) the load is spread over")
	fs.StringVar(&simLat, "sim-latency", "0,50ms", "rpc: simulator (platform) answer latency for the InviteJoinConf sweeps")
	fs.BoolVar(&e.kneeStop, "stop-at-knee", true, "rpc: stop a sweep after the first step that misses its offered rate by >5% or has errors")
	fs.IntVar(&e.maxInFlight, "max-in-flight", 20000, "open loop: operations in flight beyond this are counted as overload and not sent")
	fs.IntVar(&e.confs, "confs", 1000, "fanout: conferences (K)")
	fs.IntVar(&e.watchers, "watchers", 10, "fanout: watchers per conference (W)")
	fs.IntVar(&e.confsPerConn, "confs-per-conn", 1, "fanout: conferences one watcher connection watches (1: a browser watches its own conference)")
	fs.StringVar(&fanRates, "rate", "1000", "fanout: callbacks per second (spread round-robin over the conferences); a list runs one step each, on a fresh stack")
	fs.StringVar(&e.plot, "plot", "", "fanout: write an SVG plot of the callback→browser latency percentiles per rate here (default: beside -out)")
	fs.StringVar(&e.profileDir, "profile", "", "fanout and rpc's closed loop: write CPU profiles of svc-edge, svc-conference and svc-callback, taken over the first half of each step, into this directory")
	fs.StringVar(&e.centrifugo, "centrifugo", "", "peer: a Centrifugo v6 binary, run with fanout's workload (-confs, -watchers, -rate, -duration) for a side-by-side comparison")
	fs.IntVar(&e.runs, "runs", 2, "versus: alternated runs of each system per rate (medians are compared)")
	fs.Float64Var(&e.maxCPURatio, "max-cpu-ratio", 1.5, "versus: target for confapplet's server CPU per callback ÷ the peer's per message")
	fs.Float64Var(&e.maxP99Ratio, "max-p99-ratio", 2, "versus: target for confapplet's p99 ÷ the peer's")
	fs.StringVar(&idleN, "n", "5000,19900", "idle: connection counts, one step each")
	fs.DurationVar(&e.hold, "hold", 60*time.Second, "idle: how long the connections are held before measuring")
	fs.DurationVar(&e.pingIntv, "ping-interval", 10*time.Second, "idle: the edge's ping interval during the hold")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var err error
	if e.floorConc, err = ints(floorConc); err != nil {
		return fmt.Errorf("-floor-conc: %w", err)
	}
	if e.rates, err = floats(rates); err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	if e.inviteRates, err = floats(inviteRates); err != nil {
		return fmt.Errorf("-invite-rates: %w", err)
	}
	if e.fanRates, err = floats(fanRates); err != nil || len(e.fanRates) == 0 {
		return fmt.Errorf("-rate: %w", err)
	}
	if e.idleN, err = ints(idleN); err != nil {
		return fmt.Errorf("-n: %w", err)
	}
	for _, s := range strings.Split(simLat, ",") {
		s = strings.TrimSpace(s)
		if s == "0" {
			s = "0s"
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("-sim-latency: %w", err)
		}
		e.simLatency = append(e.simLatency, d)
	}
	if e.duration <= 0 || e.conns < 1 || e.confs < 1 || e.watchers < 1 || e.confsPerConn < 1 {
		return errors.New("-duration, -conns, -confs, -watchers, -confs-per-conn and -rate must be positive")
	}
	if root == "" {
		if root, err = testkit.RepoRoot("."); err != nil {
			return fmt.Errorf("%w (use -root)", err)
		}
	}
	if workdir == "" {
		if workdir, err = os.MkdirTemp("", "confapplet-bench-*"); err != nil {
			return err
		}
		if !keep {
			defer os.RemoveAll(workdir)
		}
	} else if err := os.MkdirAll(workdir, 0o755); err != nil {
		return err
	}
	e.dir = workdir
	e.build = newBuilder(root, filepath.Join(workdir, "bin"))
	if out == "" {
		out = filepath.Join(root, "artifacts", "bench", scenario+".json")
	}
	if e.plot == "" {
		e.plot = strings.TrimSuffix(out, ".json") + "-latency.svg"
	}
	fmt.Fprintf(stdout, "bench %s: %s, %d CPU, work dir %s\n", scenario, runtime.Version(), runtime.NumCPU(), workdir)

	names := []string{scenario}
	if scenario == "all" {
		names = []string{"rpc", "fanout", "idle"} // rpc measures the floor first
	}
	started := time.Now()
	var runErr error
	for _, n := range names {
		_, err := scenarios[n](ctx, e)
		e.close() // each scenario gets a fresh stack
		if err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("%s: %w", n, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	if err := writeResults(out, scenario, started, e.results); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Fprintf(stdout, "results: %s\n", out)
	return runErr
}

// File is the JSON results file.
type File struct {
	Scenario string   `json:"scenario"`
	Started  string   `json:"started"`
	Go       string   `json:"go"`
	CPUs     int      `json:"cpus"`
	Host     string   `json:"host"`
	Results  []Result `json:"results"`
}

func writeResults(path, scenario string, started time.Time, rs []Result) error {
	host, _ := os.Hostname()
	b, err := json.MarshalIndent(File{Scenario: scenario, Started: started.UTC().Format(time.RFC3339), Go: runtime.Version(),
		CPUs: runtime.NumCPU(), Host: host, Results: rs}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseFloat(f, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
