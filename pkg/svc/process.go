package svc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Process is one running service: its listeners, its NATS connection and
// its staged shutdown. Build it with NewProcess, add what the service has
// (Connect, Listen, ServeOps, ServePprof), then Run it; on a failure before
// Run, Close releases what was built.
type Process struct {
	log     zerolog.Logger
	nc      *Conn
	servers []*server
	flush   []func(context.Context) error
}

type server struct {
	what string // log message when it listens
	hs   *http.Server
	ln   net.Listener
}

// NewProcess starts a service's process; log is its logger.
func NewProcess(log zerolog.Logger) *Process { return &Process{log: log} }

// Connect connects to NATS (see Connect); Run drains the connection last.
func (p *Process) Connect(cfg NATS) (*Conn, error) {
	nc, err := Connect(cfg, p.log)
	if err != nil {
		return nil, err
	}
	p.nc = nc
	return nc, nil
}

// Listen binds addr now (so a taken port fails the start) and returns the
// bound address; Run serves h on it within limits. what is the log message
// naming it ("listening" for the service's own listener).
func (p *Process) Listen(what, addr string, h http.Handler, limits HTTPLimits) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	p.servers = append(p.servers, &server{what: what, hs: NewHTTPServer(h, limits), ln: ln})
	return ln.Addr().String(), nil
}

// ServeOps listens on addr with the ops handler (/healthz, /readyz,
// /metrics) within limits; "" = no ops listener. The metrics include the
// state of the connection Connect made (natsmetrics.go).
func (p *Process) ServeOps(addr string, ops Ops, limits HTTPLimits) (string, error) {
	if addr == "" {
		return "", nil
	}
	if p.nc != nil && ops.Registry != nil {
		if err := registerNATS(ops.Registry, p.nc.Conn); err != nil {
			return "", err
		}
	}
	return p.Listen("ops listening", addr, ops.Handler(), limits)
}

// ServePprof listens on addr with Go's profiles (pprof.go) within limits;
// "" = off. A CPU profile may take 5 minutes to write.
func (p *Process) ServePprof(addr string, limits HTTPLimits) (string, error) {
	if addr == "" {
		return "", nil
	}
	limits.Write = max(limits.Write, 6*time.Minute)
	return p.Listen("pprof endpoints on", addr, pprofHandler(), limits)
}

// Flush adds a last stage to the shutdown, after the NATS drain and
// within what is left of the cap: the tracer exports its last spans.
func (p *Process) Flush(f func(ctx context.Context) error) { p.flush = append(p.flush, f) }

// Close releases the listeners and the NATS connection of a process that
// will not Run, and runs its Flush stages (within a second).
func (p *Process) Close() {
	for _, s := range p.servers {
		_ = s.ln.Close()
	}
	if p.nc != nil {
		p.nc.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.flushAll(ctx)
}

func (p *Process) flushAll(ctx context.Context) {
	for _, f := range p.flush {
		if err := f(ctx); err != nil {
			p.log.Warn().Err(err).Msg("flush at shutdown")
		}
	}
}

// Stop is how a service stops.
type Stop struct {
	// Cap bounds the whole shutdown: past it, connections are closed.
	Cap time.Duration
	// Drain is the service's own stage, run once the listeners accept no
	// more connections and before NATS is drained (the edge closes its
	// WebSockets with 1001, the conference service lets its requests
	// finish); its ctx ends at the cap.
	Drain func(ctx context.Context) error
	// Done, when it closes, stops the process as ctx would, and Err is
	// the error Run returns then (a service that stopped on its own).
	Done <-chan struct{}
	Err  func() error
}

// Run serves every listener until ctx ends, a listener fails or stop.Done
// closes, then shuts down in stages within stop.Cap: stop accepting (the
// HTTP servers' Shutdown), the service's Drain, the HTTP requests in
// flight, the NATS drain, the Flush stages. It returns nil when ctx ended, else why it
// stopped.
func (p *Process) Run(ctx context.Context, stop Stop) error {
	failed := make(chan error, len(p.servers))
	for _, s := range p.servers {
		p.log.Info().Str("addr", s.ln.Addr().String()).Msg(s.what)
		go func() {
			if err := s.hs.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("serve %s: %w", s.ln.Addr(), err)
			}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
		p.log.Info().Msg("shutting down")
	case runErr = <-failed:
		p.log.Error().Err(runErr).Msg("shutting down")
	case <-stop.Done:
		runErr = errors.New("stopped by itself")
		if stop.Err != nil && stop.Err() != nil {
			runErr = stop.Err()
		}
		p.log.Error().Err(runErr).Msg("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), stop.Cap)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range p.servers {
		wg.Add(1)
		go func() { // closes the listener at once, then waits for requests in flight
			defer wg.Done()
			_ = s.hs.Shutdown(sctx)
		}()
	}
	if stop.Drain != nil {
		if err := stop.Drain(sctx); err != nil {
			p.log.Warn().Err(err).Msg("drain did not finish in time")
		}
	}
	wg.Wait()
	for _, s := range p.servers {
		_ = s.hs.Close()
	}
	if p.nc != nil {
		p.nc.Drain(sctx)
	}
	p.flushAll(sctx)
	p.log.Info().Msg("stopped")
	return runErr
}
