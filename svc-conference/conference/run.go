package conference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"confapplet/pkg/logging"
	"confapplet/pkg/svc"
	"confapplet/pkg/tracing"
)

// Run is the svc-conference process: parse flags and environment, connect
// to NATS, start the service and its ops listener, and return when ctx
// ends (nil) or the service stops on its own (an error, so the process
// exits non-zero and its supervisor restarts it). With the first argument
// "readiness" it runs the operator's readiness check instead
// (readiness.go), with "records" the call-record export (records.go), and
// returns.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "readiness" {
		return runReadiness(ctx, args[1:], getenv, stdout)
	}
	if len(args) > 0 && args[0] == "records" {
		return runRecords(ctx, args[1:], getenv, stdout, os.Stderr)
	}
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	if cfg.Healthcheck {
		return svc.Healthcheck(ctx, cfg.HTTPAddr)
	}
	if cfg.InstanceName == "" {
		cfg.InstanceName, _ = os.Hostname()
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := logging.New(stdout, cfg.LogLevel, "svc-conference", logging.FullNumbers(cfg.LogFullNumbers)).With().Str("instance", cfg.InstanceName).Logger()

	p := svc.NewProcess(log)
	if cfg.Tracer == nil {
		if cfg.Tracer, err = tracing.New(cfg.Tracing, "svc-conference", cfg.InstanceName, log); err != nil {
			return err
		}
	}
	p.Flush(cfg.Tracer.Shutdown)
	nc, err := p.Connect(svc.NATS{URL: cfg.NATSURL, Name: "svc-conference " + cfg.InstanceName})
	if err != nil {
		return err
	}
	if err := nc.WaitConnected(ctx, 30*time.Second); err != nil {
		p.Close()
		return err
	}
	pl, err := NewYTX(cfg, nil)
	if err != nil {
		p.Close()
		return fmt.Errorf("platform client: %w", err)
	}
	if cfg.YTXInsecureSkipVerify {
		log.Warn().Str("url", cfg.YTXBaseURL).Msg("the platform's TLS certificate is NOT verified (ytx-insecure-skip-verify): anyone on the path can read and forge platform traffic; never use this in production")
	}
	s, err := New(cfg, nc.Conn, pl, log)
	if err != nil {
		p.Close()
		return err
	}
	if _, err = p.ServeOps(cfg.HTTPAddr, s.ops(), cfg.HTTP); err == nil {
		_, err = p.ServePprof(cfg.Pprof, cfg.HTTP)
	}
	if err != nil {
		s.Stop()
		p.Close()
		return err
	}
	err = p.Run(ctx, svc.Stop{
		Cap:   cfg.ShutdownGrace + 5*time.Second,
		Drain: func(context.Context) error { s.Stop(); return nil },
		Done:  s.Done(),
		Err: func() error {
			return fmt.Errorf("conference service stopped: %w", s.Err())
		},
	})
	return err
}

// OpsHandler serves /healthz (the process runs), /readyz (connected to
// NATS and serving) and /metrics (the service's own registry).
func (s *Service) OpsHandler() http.Handler { return s.ops().Handler() }

func (s *Service) ops() svc.Ops {
	return svc.Ops{
		Live: func() error {
			select {
			case <-s.done:
				return errors.New("stopped")
			default:
				return nil
			}
		},
		Ready:    func(context.Context) error { return s.Ready() },
		Registry: s.met.reg,
	}
}
