// Package callback is svc-callback: the HTTP endpoint the telephony platform
// calls. It authenticates a callback (a secret in the path, optionally a
// source-address allow-list), parses it strictly, stores it as a
// contract.Event on conf.<confid>.events through JetStream (de-duplicated,
// with a dense per-conference sequence) and only then answers the platform.
//
// API surface: New (in-process, on a NATS connection you own) and Run (the
// binary: flags, environment, NATS connection, HTTP server). Routes are in
// routes.go, parsing in parse.go, publishing in publish.go.
package callback

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/eventlog"
	"confapplet/pkg/logging"
	"confapplet/pkg/streams"
	"confapplet/pkg/svc"
	"confapplet/pkg/tracing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Server is one svc-callback instance. Any number of instances may share a
// NATS system: sequences stay dense and ordered.
type Server struct {
	cfg    Config
	log    zerolog.Logger
	loc    *time.Location
	secret []byte
	pub    *publisher
	raw    *rawStore
	spool  *spool // nil: none (Config.SpoolDir)
	// parse turns a stored callback into its event (parseRequest and
	// buildEvent); a field so that a test can run an instance with a
	// "buggy" parser and re-process its callbacks with the fixed one.
	parse   func(kind, query, contentType string, body []byte, received time.Time) (*contract.Event, fields, error)
	metrics *metrics
	handler http.Handler
	now     func() time.Time
}

// New returns a Server publishing through nc (which the caller owns and
// closes). cfg's zero fields take the defaults; cfg.Secret is required
// unless cfg.Local. New tries to create the events stream once; if NATS
// is unreachable it still returns, and the stream is ensured on the first
// callback (until then callbacks get 503 and /readyz fails).
func New(cfg Config, nc *nats.Conn, log zerolog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("svc-callback config: %w", err)
	}
	if nc == nil {
		return nil, errors.New("svc-callback: nil NATS connection")
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("svc-callback: jetstream: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		loc:     loc,
		secret:  secretHash(cfg.Secret),
		metrics: newMetrics(),
		now:     time.Now,
	}
	s.pub = &publisher{eventlog.New(nc, js, eventlog.Config{
		Stream: streams.EventsConfig{
			Replicas:   cfg.EventsReplicas,
			MaxAge:     cfg.EventsMaxAge,
			Duplicates: cfg.EventsDuplicateWindow,
		},
		CacheSize:  cfg.SeqCacheSize,
		CacheTTL:   cfg.SeqCacheTTL,
		OnConflict: s.metrics.conflicts.Inc,
		OnRead:     s.metrics.reads.Inc,
	})}
	s.raw = &rawStore{js: js, cfg: RawConfig{
		Replicas:   cfg.EventsReplicas,
		MaxAge:     cfg.RawMaxAge,
		MaxBytes:   cfg.RawMaxBytes,
		Duplicates: cfg.EventsDuplicateWindow,
	}}
	s.parse = s.parseCallback
	cfg.Tracer.UseCalls(js, cfg.EventsReplicas) // the callbacks' link to their command (pkg/tracing)
	if cfg.SpoolDir != "" {
		if s.spool, err = openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes); err != nil {
			return nil, fmt.Errorf("svc-callback: %w", err)
		}
		s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "confapplet", Subsystem: "callback", Name: "spool_pending",
			Help: "Callbacks kept in the local spool, waiting for the event store.",
		}, func() float64 { return float64(s.spool.pending.Load()) }))
		if n := s.spool.pending.Load(); n > 0 {
			log.Warn().Int64("spooled", n).Msg("spool holds callbacks from before; forwarding them first")
		}
	} else if !cfg.Local {
		log.Warn().Msg("no spool (CALLBACK_SPOOL_DIR): callbacks arriving while the event store is unavailable are answered 503 and depend on the platform's retries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.PublishTimeout)
	defer cancel()
	if _, err := s.raw.ensure(ctx); err != nil {
		log.Warn().Err(err).Msg("raw stream not ensured yet; will retry on the first callback")
	}
	if _, err := s.pub.ensure(ctx); err != nil {
		log.Warn().Err(err).Msg("events stream not ensured yet; will retry on the first callback")
	}
	s.handler = s.routes()
	return s, nil
}

// parseCallback is the parser: the fields of the body and query, checked
// and turned into the event of kind.
func (s *Server) parseCallback(kind, query, contentType string, body []byte, received time.Time) (*contract.Event, fields, error) {
	f, err := parseRequest(query, contentType, body)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(contract.CallbackKinds, kind) {
		// The fields still decide the reply (a status push wants Ack).
		return nil, f, badBody("the path names no callback kind")
	}
	ev, err := buildEvent(kind, f, s.loc, received)
	return ev, f, err
}

// Handler serves the callback routes and /healthz, /readyz (the public
// listener; metrics are on OpsHandler only).
func (s *Server) Handler() http.Handler { return s.handler }

// Registry is the server's own Prometheus registry (what /metrics serves).
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// Config is the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// secretOK compares in constant time: both sides are hashed first, so not
// even the secret's length shows in the timing.
func (s *Server) secretOK(got string) bool {
	g := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(g[:], s.secret) == 1
}

func secretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// sourceOK applies the CIDR allow-list to the peer address.
func (s *Server) sourceOK(r *http.Request) bool {
	if len(s.cfg.AllowCIDRs) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.cfg.AllowCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Run is the svc-callback binary: it reads flags (args) and environment
// (getenv), connects to NATS, serves HTTP until ctx ends, then shuts down
// in stages within ShutdownTimeout. With -healthcheck it only GETs /healthz
// and returns; with the first argument "reprocess" it re-processes the
// callbacks not understood (reprocess.go) and returns.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "reprocess" {
		return runReprocess(ctx, args[1:], getenv, stdout)
	}
	cfg, opt, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	if opt.healthcheck {
		return svc.Healthcheck(ctx, cfg.Addr)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := logging.New(stdout, cfg.LogLevel, "svc-callback", logging.FullNumbers(cfg.LogFullNumbers))
	p := svc.NewProcess(log)
	if cfg.Tracer == nil {
		if cfg.Tracer, err = tracing.New(cfg.Tracing, "svc-callback", "", log); err != nil {
			return err
		}
	}
	p.Flush(cfg.Tracer.Shutdown)
	nc, err := p.Connect(svc.NATS{URL: cfg.NATSURL, Name: "svc-callback", Options: []nats.Option{
		// No reconnect buffer: while NATS is away a publish fails at once
		// and the platform gets 503 (it retries), instead of a request
		// that waits and a buffered publish sent after we answered.
		nats.ReconnectBufSize(-1),
	}})
	if err != nil {
		return err
	}
	s, err := New(cfg, nc.Conn, log)
	if err == nil {
		_, err = p.Listen("listening", cfg.Addr, s.Handler(), opt.http)
	}
	if err == nil {
		_, err = p.ServeOps(opt.opsAddr, s.ops(), opt.http)
	}
	if err == nil {
		_, err = p.ServePprof(opt.pprof, opt.http)
	}
	if err != nil {
		p.Close()
		return err
	}
	log.Info().Bool("local", cfg.Local).Int("allow_cidrs", len(cfg.AllowCIDRs)).Str("spool", cfg.SpoolDir).Msg("callback service started")
	defer s.Close()
	fctx, stopForward := context.WithCancel(ctx)
	forwarding := make(chan struct{})
	go func() { defer close(forwarding); s.Forward(fctx) }()
	err = p.Run(ctx, svc.Stop{Cap: cfg.ShutdownTimeout})
	stopForward()
	<-forwarding
	return err
}

// hostOnly strips a port, for log lines.
func hostOnly(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return strings.TrimSpace(remote)
}
