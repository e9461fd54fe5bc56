// Package teststack starts confapplet as separate processes on loopback:
// nats-server, svc-callback, svc-conference, svc-edge and the platform
// simulator, each from its own binary, configured by its environment as in
// production. The cluster test and the load tool start it; what differs
// between them (instance counts, settings, a load balancer in front of
// svc-callback, an existing NATS cluster) is an Option.
package teststack

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"confapplet/pkg/testkit"
)

// NATSServer is nats-server's main package; the pkg module requires it, so
// it builds there.
const NATSServer = "github.com/nats-io/nats-server/v2"

// Options are what differs between stacks.
type Options struct {
	Dir   string           // work directory: logs, the NATS store
	Build *testkit.Builder // compiles the binaries; its Root is the repository

	// NATSURL is the servers the services use; "" starts one nats-server
	// process with JetStream.
	NATSURL string
	// Conferences and Edges are how many instances run; 0 means 1.
	Conferences, Edges int
	// LogLevel is every service's LOG_LEVEL; "" means info.
	LogLevel      string
	Secret        string // svc-callback's path secret
	OperatorToken string // svc-conference's operator token

	// Settings added to (or replacing) each service's environment; the
	// simulator sends its callbacks to svc-callback unless Sim sets
	// SIM_NOTIFY_URL (to a load balancer in front of it, say).
	Callback, Conference, Edge, Sim map[string]string

	// ReadyWithin bounds each service's wait for readiness; 0 means 60 s.
	ReadyWithin time.Duration
}

// Service is one service process and its HTTP listeners.
type Service struct {
	*testkit.Proc
	Port      int
	OpsPort   int    // its ops listener (/metrics); Port for svc-conference, 0 for the simulator
	ReadyPath string // answers 200 once the service is ready
}

// WaitReady waits until the service answers 200 on its ReadyPath, as after
// a restart.
func (s *Service) WaitReady(ctx context.Context, within time.Duration) error {
	return testkit.WaitHTTP(ctx, s.URL()+s.ReadyPath, within, s.Proc)
}

// Addr is "127.0.0.1:<port>".
func (s *Service) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// URL is "http://127.0.0.1:<port>".
func (s *Service) URL() string { return "http://" + s.Addr() }

// OpsURL is "http://127.0.0.1:<ops port>", where /metrics is.
func (s *Service) OpsURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.OpsPort) }

// WS is "ws://127.0.0.1:<port>", an edge's base for browsers.
func (s *Service) WS() string { return "ws://" + s.Addr() }

// Stack is the running processes.
type Stack struct {
	NATS        *testkit.Proc // nil when Options.NATSURL was given
	NATSURL     string
	Callback    *Service
	Conferences []*Service
	Edges       []*Service
	Sim         *Service
	// CallbackURL is where the platform posts: http://…/yt/<secret>.
	CallbackURL string

	o    Options
	bins map[string]string

	mu    sync.Mutex
	procs []*testkit.Proc // in start order
}

// platformVersion is the API version the simulator serves under
// (ytxsim.Version, pinned by a test): not imported, so the load tool's
// module need not carry the simulator's dependencies.
const platformVersion = "2013-12-26"

// The simulator's platform account (any 32 characters do).
const (
	simSID   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	simToken = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	simAppID = "cccccccccccccccccccccccccccccccc"
)

// Start builds the binaries and starts the stack in dependency order:
// NATS, svc-callback (it creates the events stream), the conference
// instances together (as compose starts them), the edges, then the
// simulator. Each must answer 200 on /readyz (/healthz for the simulator)
// before the next step; on an error Start stops what it started.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Conferences == 0 {
		o.Conferences = 1
	}
	if o.Edges == 0 {
		o.Edges = 1
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.ReadyWithin == 0 {
		o.ReadyWithin = 60 * time.Second
	}
	st := &Stack{o: o, NATSURL: o.NATSURL, bins: map[string]string{}}
	if err := st.start(ctx); err != nil {
		st.Stop()
		return nil, err
	}
	return st, nil
}

func (st *Stack) start(ctx context.Context) error {
	o := st.o
	names := []string{"svc-edge", "svc-conference", "svc-callback", "ytxsim"}
	bins, err := o.Build.Build(ctx, ".", "./svc-edge", "./svc-conference", "./svc-callback", "./deploy/ytxsim")
	if err != nil {
		return err
	}
	for i, n := range names {
		st.bins[n] = bins[i]
	}
	if st.NATSURL == "" {
		if st.NATS, st.NATSURL, err = StartNATS(ctx, o.Build, o.Dir); err != nil {
			return err
		}
		st.track(st.NATS)
	}
	ports := make([]int, 3+o.Conferences)
	for i := range ports {
		if ports[i], err = testkit.PickPort(); err != nil {
			return err
		}
	}
	st.Callback = &Service{Port: ports[0], OpsPort: ports[2+o.Conferences], ReadyPath: "/readyz"}
	st.Sim = &Service{Port: ports[1], ReadyPath: "/healthz"}
	st.CallbackURL = st.Callback.URL() + "/yt/" + o.Secret

	cb := st.common(map[string]string{"CALLBACK_ADDR": st.Callback.Addr(), "CALLBACK_OPS_ADDR": fmt.Sprintf("127.0.0.1:%d", st.Callback.OpsPort),
		"CALLBACK_SECRET": o.Secret, "CALLBACK_SPOOL_DIR": filepath.Join(o.Dir, "callback-spool")}, o.Callback)
	if err := st.launch(ctx, st.Callback, "svc-callback", "svc-callback", cb); err != nil {
		return err
	}
	for i := range o.Conferences {
		s := &Service{Port: ports[2+i], OpsPort: ports[2+i], ReadyPath: "/readyz"}
		name := instance("svc-conference", i, o.Conferences)
		env := st.common(map[string]string{
			"CONF_HTTP_ADDR":      s.Addr(),
			"CONF_INSTANCE":       name,
			"CONF_OPERATOR_TOKEN": o.OperatorToken,
			"YTX_BASE_URL":        st.Sim.URL() + "/" + platformVersion,
			"YTX_ACCOUNT_SID":     simSID, "YTX_AUTH_TOKEN": simToken, "YTX_APP_ID": simAppID,
		}, o.Conference)
		if err := st.spawn(s, name, "svc-conference", env); err != nil {
			return err
		}
		st.Conferences = append(st.Conferences, s)
	}
	for _, s := range st.Conferences {
		if err := s.WaitReady(ctx, o.ReadyWithin); err != nil {
			return err
		}
	}
	for range o.Edges {
		if _, err := st.StartEdge(ctx, instance("svc-edge", len(st.Edges), o.Edges), 0); err != nil {
			return err
		}
	}
	sim := map[string]string{
		"SIM_ADDR":        st.Sim.Addr(),
		"SIM_NOTIFY_URL":  st.CallbackURL,
		"YTX_ACCOUNT_SID": simSID, "YTX_AUTH_TOKEN": simToken, "YTX_APP_ID": simAppID,
		"LOG_LEVEL": o.LogLevel,
	}
	return st.launch(ctx, st.Sim, "ytxsim", "ytxsim", merge(sim, o.Sim))
}

// StartEdge starts one more svc-edge, named name (unique in the stack), on
// port (0: a free one), and waits until it is ready.
func (st *Stack) StartEdge(ctx context.Context, name string, port int) (*Service, error) {
	if port == 0 {
		var err error
		if port, err = testkit.PickPort(); err != nil {
			return nil, err
		}
	}
	ops, err := testkit.PickPort() // the default, fixed one would be shared by every edge
	if err != nil {
		return nil, err
	}
	s := &Service{Port: port, OpsPort: ops, ReadyPath: "/readyz"}
	env := st.common(map[string]string{"EDGE_ADDR": s.Addr(), "EDGE_OPS_ADDR": fmt.Sprintf("127.0.0.1:%d", ops), "EDGE_INSTANCE_ID": name}, st.o.Edge)
	if err := st.launch(ctx, s, name, "svc-edge", env); err != nil {
		return nil, err
	}
	st.mu.Lock()
	st.Edges = append(st.Edges, s)
	st.mu.Unlock()
	return s, nil
}

// Procs is every process of the stack, in start order.
func (st *Stack) Procs() []*testkit.Proc {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]*testkit.Proc(nil), st.procs...)
}

// Stop ends the processes in the reverse of their start order: the
// simulator and the edges (which close their browsers with 1001) first,
// NATS last.
func (st *Stack) Stop() {
	procs := st.Procs()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(10 * time.Second)
	}
}

// StartNATS starts a nats-server process with JetStream (its store in
// dir/nats-store, its log in dir) and returns it with its client URL.
func StartNATS(ctx context.Context, b *testkit.Builder, dir string) (*testkit.Proc, string, error) {
	bin, err := b.Build(ctx, "pkg", NATSServer)
	if err != nil {
		return nil, "", err
	}
	port, err := testkit.PickPort()
	if err != nil {
		return nil, "", err
	}
	store := filepath.Join(dir, "nats-store")
	p := testkit.NewProc("nats-server", bin[0], dir, []string{"-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", store}, nil)
	if err := p.Start(); err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := testkit.WaitTCP(ctx, addr, 15*time.Second, p); err != nil {
		p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, "nats://" + addr, nil
}

// common is the settings every NATS service gets, then env, then extra.
func (st *Stack) common(env, extra map[string]string) map[string]string {
	env["NATS_URL"] = st.NATSURL
	env["LOG_LEVEL"] = st.o.LogLevel
	return merge(env, extra)
}

// launch is spawn then ready.
func (st *Stack) launch(ctx context.Context, s *Service, name, bin string, env map[string]string) error {
	if err := st.spawn(s, name, bin, env); err != nil {
		return err
	}
	return s.WaitReady(ctx, st.o.ReadyWithin)
}

// spawn starts the binary bin as the process name of s.
func (st *Stack) spawn(s *Service, name, bin string, env map[string]string) error {
	s.Proc = testkit.NewProc(name, st.bins[bin], st.o.Dir, nil, env)
	if err := s.Start(); err != nil {
		return err
	}
	st.track(s.Proc)
	return nil
}

func (st *Stack) track(p *testkit.Proc) {
	st.mu.Lock()
	st.procs = append(st.procs, p)
	st.mu.Unlock()
}

// instance names the i-th of n instances: the bare name when it is alone.
func instance(name string, i, n int) string {
	if n == 1 {
		return name
	}
	return fmt.Sprintf("%s-%d", name, i+1)
}

func merge(env, extra map[string]string) map[string]string {
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// Pids maps each process's name to its pid (for CPU and memory figures).
func (st *Stack) Pids() map[string]int {
	out := map[string]int{}
	for _, p := range st.Procs() {
		out[p.Name] = p.Pid()
	}
	return out
}
