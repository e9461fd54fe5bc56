package conference

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"confapplet/pkg/logging"
	"confapplet/pkg/ops"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Run is the svc-conference process: parse flags and environment, connect
// to NATS, start the service and its ops HTTP server, and return when ctx
// ends (nil) or the service stops on its own (an error, so the process
// exits non-zero and its supervisor restarts it).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.Healthcheck {
		return ops.Healthcheck(ctx, cfg.HTTPAddr)
	}
	if cfg.InstanceName == "" {
		cfg.InstanceName, _ = os.Hostname()
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := logging.New(stdout, cfg.LogLevel, "conference").With().Str("instance", cfg.InstanceName).Logger()

	closed := make(chan struct{})
	nc, err := nats.Connect(cfg.NATSURL,
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.Name("svc-conference "+cfg.InstanceName),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn().Err(err).Msg("nats disconnected") }),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info().Msg("nats reconnected") }),
	)
	if err != nil {
		return fmt.Errorf("nats connect: %w", err)
	}
	defer nc.Close()
	if err := waitConnected(ctx, nc, 30*time.Second); err != nil {
		return err
	}
	p, err := NewYTX(cfg, nil)
	if err != nil {
		return fmt.Errorf("platform client: %w", err)
	}
	svc, err := New(cfg, nc, p, log)
	if err != nil {
		return err
	}
	if cfg.Pprof != "" {
		stopPprof, err := ops.ServePprof(cfg.Pprof, log)
		if err != nil {
			svc.Stop()
			return err
		}
		defer stopPprof()
	}
	var srv *http.Server
	httpErr := make(chan error, 1)
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			svc.Stop()
			return fmt.Errorf("ops http: %w", err)
		}
		srv = &http.Server{Handler: svc.OpsHandler(), ReadHeaderTimeout: 5 * time.Second}
		log.Info().Str("addr", ln.Addr().String()).Msg("ops http listening")
		go func() { httpErr <- srv.Serve(ln) }()
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case <-svc.Done():
		runErr = fmt.Errorf("conference service stopped: %w", svc.Err())
		log.Error().Err(runErr).Msg("exiting")
	case err := <-httpErr:
		runErr = fmt.Errorf("ops http: %w", err)
	}
	svc.Stop()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	// Drain, and wait for the connection to close, so Run leaves nothing
	// running behind it.
	nc.SetDisconnectErrHandler(nil)
	nc.SetReconnectHandler(nil)
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.Warn().Err(err).Msg("nats drain")
		nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		nc.Close()
	}
	return runErr
}

func waitConnected(ctx context.Context, nc *nats.Conn, max time.Duration) error {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("nats: not connected after %s", max)
		case <-t.C:
		}
	}
	return nil
}

// OpsHandler serves /healthz (the process runs), /readyz (connected to
// NATS and serving) and /metrics (the service's own registry).
func (s *Service) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.done:
			http.Error(w, "stopped", http.StatusServiceUnavailable)
		default:
			_, _ = io.WriteString(w, "ok\n")
		}
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{Registry: s.met.reg}))
	return mux
}
