package edge

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"

	"confapplet/pkg/logging"
	"confapplet/pkg/svc"
	"confapplet/pkg/tracing"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Run is svc-edge's main: flags and environment, then Serve until ctx ends.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := ParseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	if cfg.Healthcheck {
		return svc.Healthcheck(ctx, cfg.Addr)
	}
	return Serve(ctx, cfg, logging.New(stdout, cfg.LogLevel, "svc-edge", logging.FullNumbers(cfg.LogFullNumbers)))
}

// Serve connects to NATS, listens on cfg.Addr (reporting the bound address
// to cfg.OnListen and cfg.ReadyFile) and cfg.OpsAddr, serves until ctx
// ends, then shuts down in stages within cfg.ShutdownCap: stop accepting,
// close sessions with 1001 over cfg.ShutdownWindow, drain NATS.
func Serve(ctx context.Context, cfg Config, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p := svc.NewProcess(log)
	if cfg.Tracer == nil {
		tr, err := tracing.New(cfg.Tracing, "svc-edge", cfg.InstanceID, log)
		if err != nil {
			return err
		}
		cfg.Tracer = tr
	}
	p.Flush(cfg.Tracer.Shutdown)
	var edge atomic.Pointer[Server]
	nc, err := p.Connect(svc.NATS{URL: cfg.NATSURL, Name: "svc-edge", OnAsyncError: func(err error) {
		// Republished events may have been dropped: look in the stream.
		if s := edge.Load(); s != nil && errors.Is(err, nats.ErrSlowConsumer) {
			s.Resync()
		}
	}})
	if err != nil {
		return err
	}
	srv, err := New(cfg, nc.Conn, log)
	if err != nil {
		p.Close()
		return err
	}
	edge.Store(srv)
	addr, err := p.Listen("listening", cfg.Addr, srv.Handler(), cfg.HTTP)
	if err == nil {
		_, err = p.ServeOps(cfg.OpsAddr, srv.ops(), cfg.HTTP)
	}
	if err == nil {
		_, err = p.ServePprof(cfg.Pprof, cfg.HTTP)
	}
	if err != nil {
		srv.close()
		p.Close()
		return err
	}
	if cfg.ReadyFile != "" {
		if err := os.WriteFile(cfg.ReadyFile, []byte(addr), 0o644); err != nil {
			log.Warn().Err(err).Msg("ready file")
		}
	}
	if cfg.OnListen != nil {
		cfg.OnListen(addr)
	}
	log.Info().Str("edge", srv.id).Msg("edge started")
	return p.Run(ctx, svc.Stop{Cap: cfg.ShutdownCap, Drain: srv.Shutdown})
}
