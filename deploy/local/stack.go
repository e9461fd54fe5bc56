package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"confapplet/pkg/natsembed"
	"confapplet/pkg/ytxsim"
	"confapplet/svc-callback/callback"
	"confapplet/svc-conference/conference"
	"confapplet/svc-edge/edge"
)

// runFunc is the Run of a service package (docs/DESIGN-NOTES.md).
type runFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// service is one service of the stack, run through its package's Run.
type service struct {
	name  string
	run   runFunc
	args  []string
	ready string // URL that answers 200 once the service is ready

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// stack is every part of confapplet in one process. run uses it for
// `go run ./deploy/local`; the tests use it to start, stop and restart parts.
type stack struct {
	cfg    config
	getenv func(string) string // the environment the services see
	log    io.Writer           // services' JSON logs

	nats    *natsembed.Server
	real    bool   // drive the real platform (YTX_* credentials set)
	baseURL string // platform REST base URL in use
	notify  string // notification address given to the platform
	secret  string // svc-callback's path secret
	open    bool   // svc-edge runs without connection tokens (no EDGE_AUTH_* set)

	mu    sync.Mutex
	svcs  map[string]*service
	order []string
	failc chan error // a service stopped by itself
}

// Names of the services.
const (
	svcConference = "svc-conference"
	svcCallback   = "svc-callback"
	svcEdge       = "svc-edge"
	svcSim        = "ytxsim"
)

// newStack prepares a stack; start starts it.
func newStack(cfg config, getenv func(string) string, log io.Writer) *stack {
	return &stack{cfg: cfg, getenv: getenv, log: log, svcs: map[string]*service{}, failc: make(chan error, 8)}
}

// realPlatform reports whether getenv carries Yuntongxun credentials.
func realPlatform(getenv func(string) string) bool {
	return getenv("YTX_ACCOUNT_SID") != "" && getenv("YTX_AUTH_TOKEN") != "" && getenv("YTX_APP_ID") != ""
}

// start starts NATS, the simulator (unless the real platform is configured)
// and the three services, and waits until every one is ready.
func (s *stack) start(ctx context.Context) error {
	if err := s.checkPorts(); err != nil {
		return err
	}
	storeDir := ""
	if !s.cfg.Temp {
		storeDir = s.cfg.storeDir()
	}
	ns, err := natsembed.Start(natsembed.Options{Port: s.cfg.NATSPort, StoreDir: storeDir})
	if err != nil {
		return fmt.Errorf("embedded NATS on port %d: %w", s.cfg.NATSPort, err)
	}
	s.nats = ns

	secret := s.getenv("CALLBACK_SECRET")
	if secret == "" {
		secret = callback.DefaultLocalSecret
	}
	s.secret = secret
	s.notify = "http://" + dialAddr(s.cfg.CallbackAddr) + "/yt/" + secret
	env := map[string]string{"NATS_URL": ns.ClientURL()}
	s.real = realPlatform(s.getenv)
	if s.real {
		s.baseURL = s.getenv("YTX_BASE_URL")
		if s.baseURL == "" {
			s.baseURL = productionBaseURL
			env["YTX_BASE_URL"] = s.baseURL
		}
	} else {
		// The simulator, configured by its own SIM_* variables (docs/yuntongxun.md).
		s.add(svcSim, ytxsim.Run, []string{"-addr", s.cfg.SimAddr, "-notify-url", s.notify}, "/healthz", s.cfg.SimAddr)
		s.baseURL = "http://" + dialAddr(s.cfg.SimAddr) + "/" + ytxsim.Version
		env["YTX_BASE_URL"] = s.baseURL
		env["YTX_ACCOUNT_SID"] = ytxsim.DefaultAccountSID
		env["YTX_AUTH_TOKEN"] = ytxsim.DefaultAuthToken
		env["YTX_APP_ID"] = ytxsim.DefaultAppID
	}
	// Open for development unless a token key is given.
	if s.getenv("EDGE_AUTH_SECRET") == "" && s.getenv("EDGE_AUTH_PUBLIC_KEY") == "" && s.getenv("EDGE_AUTH_JWKS_URL") == "" {
		s.open = true
		env["EDGE_INSECURE_NO_AUTH"] = "true"
	}
	parent := s.getenv
	s.getenv = func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return parent(k)
	}

	// Then callback (it creates the events stream), the conference service,
	// and the edge that browsers reach.
	s.add(svcCallback, callback.Run, []string{"-addr", s.cfg.CallbackAddr, "-ops-addr", s.cfg.CallbackOpsAddr, "-local"}, "/readyz", s.cfg.CallbackAddr)
	s.add(svcConference, conference.Run, []string{"-http-addr", s.cfg.ConfAddr}, "/readyz", s.cfg.ConfAddr)
	s.add(svcEdge, edge.Run, []string{"-addr", s.cfg.EdgeAddr, "-ops-addr", s.cfg.EdgeOpsAddr}, "/readyz", s.cfg.EdgeAddr)
	// One after the other, each ready before the next starts: the edge
	// comes last, so once its /readyz answers 200 the whole stack serves.
	for _, name := range s.order {
		if err := s.startService(ctx, name); err != nil {
			s.stop()
			return err
		}
		if err := s.waitReady(ctx, s.cfg.ReadyTimeout, name); err != nil {
			s.stop()
			return err
		}
	}
	return nil
}

// checkPorts fails fast, naming the flag, when an address is taken (another
// local stack, a NATS server already on 4222, …).
func (s *stack) checkPorts() error {
	addrs := []struct{ flag, addr string }{
		{"-nats-port", fmt.Sprintf("127.0.0.1:%d", s.cfg.NATSPort)},
		{"-edge-addr", s.cfg.EdgeAddr},
		{"-edge-ops-addr", s.cfg.EdgeOpsAddr},
		{"-callback-addr", s.cfg.CallbackAddr},
		{"-callback-ops-addr", s.cfg.CallbackOpsAddr},
		{"-conf-addr", s.cfg.ConfAddr},
	}
	if !realPlatform(s.getenv) {
		addrs = append(addrs, struct{ flag, addr string }{"-sim-addr", s.cfg.SimAddr})
	}
	var errs []error
	for _, a := range addrs {
		if a.flag == "-nats-port" && s.cfg.NATSPort <= 0 {
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s is taken (%v): choose another with %s", a.addr, err, a.flag))
			continue
		}
		ln.Close()
	}
	return errors.Join(errs...)
}

func (s *stack) add(name string, run runFunc, args []string, readyPath, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.svcs[name] = &service{name: name, run: run, args: args, ready: "http://" + dialAddr(addr) + readyPath}
	s.order = append(s.order, name)
}

// startService runs one service in its own goroutine.
func (s *stack) startService(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, ok := s.svcs[name]
	if !ok {
		return fmt.Errorf("no service %q", name)
	}
	if sv.done != nil {
		select {
		case <-sv.done:
		default:
			return fmt.Errorf("%s is running", name)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	sv.cancel, sv.done, sv.err = cancel, make(chan struct{}), nil
	done := sv.done
	getenv := s.getenv
	go func() {
		err := sv.run(sctx, sv.args, getenv, s.log)
		s.mu.Lock()
		sv.err = err
		s.mu.Unlock()
		close(done)
		if sctx.Err() == nil { // it stopped by itself
			if err == nil {
				err = errors.New("exited")
			}
			select {
			case s.failc <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
	return nil
}

// stopService stops one service and waits for its Run to return.
func (s *stack) stopService(name string, timeout time.Duration) error {
	s.mu.Lock()
	sv, ok := s.svcs[name]
	s.mu.Unlock()
	if !ok || sv.done == nil {
		return nil
	}
	sv.cancel()
	select {
	case <-sv.done:
	case <-time.After(timeout):
		return fmt.Errorf("%s did not stop within %s", name, timeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return sv.err
}

// waitReady polls the readiness URLs of names (default: every service)
// until all answer 200.
func (s *stack) waitReady(ctx context.Context, timeout time.Duration, names ...string) error {
	s.mu.Lock()
	urls := map[string]string{}
	for name, sv := range s.svcs {
		if len(names) == 0 || slices.Contains(names, name) {
			urls[name] = sv.ready
		}
	}
	s.mu.Unlock()
	return waitURLs(ctx, urls, timeout, s.failc)
}

// waitURLs polls urls until each answers 200, a failure arrives on failc,
// or timeout passes.
func waitURLs(ctx context.Context, urls map[string]string, timeout time.Duration, failc chan error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	pending := map[string]string{}
	for k, v := range urls {
		pending[k] = v
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for name, u := range pending {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					delete(pending, name)
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case err := <-failc:
			failc <- err // leave it for the caller's wait
			return err
		case <-ctx.Done():
			names := make([]string, 0, len(pending))
			for n, u := range pending {
				names = append(names, n+" ("+u+")")
			}
			return fmt.Errorf("not ready within %s: %s", timeout, strings.Join(names, ", "))
		case <-tick.C:
		}
	}
}

// stop stops everything in reverse order: the edge first (browsers are told
// with 1001 and reconnect elsewhere), NATS last.
func (s *stack) stop() error {
	var errs []error
	s.mu.Lock()
	order := append([]string(nil), s.order...)
	s.mu.Unlock()
	for i := len(order) - 1; i >= 0; i-- {
		if err := s.stopService(order[i], 20*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", order[i], err))
		}
	}
	if s.nats != nil {
		s.nats.Shutdown()
	}
	return errors.Join(errs...)
}

// dialAddr turns a listen address (":8080", "0.0.0.0:8080") into one to
// dial on this host.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// portOf returns the port of a listen address, or 0.
func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
