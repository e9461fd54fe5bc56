// Package conference is svc-conference: the conference commands of the
// JSON-RPC protocol as a NATS micro service ("conference", endpoints
// conference.<Method>, one queue group), executed against the telephony
// platform, with the conference state in JetStream KV.
//
// Files, one concept each: service.go (the micro service: endpoints from
// contract.MethodTable, lifecycle), request.go (one request's way: worker
// pools, deadline, decoding, the reply), handlers.go (one function per
// method), dial.go (InviteJoinConf: dialling and recording the calls),
// record.go (a conference's record), store.go (the KV buckets: reads, the
// leader read, the decode cache), commit.go (group-committed,
// revision-checked writes), owners.go (the owner index), view.go and
// fastread.go (the in-memory view and the inline reads), events.go (the
// events consumer), guard.go (allow-list, rate limits), idempotency.go,
// config.go (flags and environment), metrics.go, platform.go (the platform
// seam and its Yuntongxun implementation), jsretry.go (riding out
// JetStream unavailability), run.go (the process).
package conference

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Service is one running instance of the conference service.
type Service struct {
	cfg   Config
	nc    *nats.Conn
	p     Platform
	log   zerolog.Logger
	loc   *time.Location
	st    *store
	idem  *idempotency
	guard *guard
	met   *metrics
	cons  *consumer
	svc   micro.Service
	now   func() time.Time

	budget *budget // the call budget of every instance together (budget.go); nil when off

	platformPool chan struct{} // worker slots of the methods that may call the platform
	readPool     chan struct{} // worker slots of the methods that only read the state
	mu           sync.Mutex    // guards closed and wg.Add
	closed       bool
	closing      atomic.Bool // closed, read without the lock (the inline read path)
	wg           sync.WaitGroup
	base         context.Context // cancelled when in-flight requests must give up
	cancel       context.CancelFunc

	stats    map[string]*endpointStats
	stopOnce sync.Once
	done     chan struct{} // closed when the micro service stopped
	failure  atomic.Pointer[error]
}

type endpointStats struct {
	errors   atomic.Int64
	inflight atomic.Int64
}

// New starts an instance on nc (which the caller owns and closes after
// Stop): it creates or binds the KV buckets, the events stream and the
// durable consumer, and registers the micro service. cfg must pass
// Validate (New calls it).
func New(cfg Config, nc *nats.Conn, p Platform, log zerolog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if p == nil {
		return nil, errors.New("conference: nil platform")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return newService(cfg, nc, js, p, log)
}

// newService is New on a given JetStream context (tests wrap it to inject
// faults).
func newService(cfg Config, nc *nats.Conn, js jetstream.JetStream, p Platform, log zerolog.Logger) (*Service, error) {
	var err error
	// Creating or binding the buckets, the stream and the consumer is
	// retried until this deadline (see startRetry).
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	s := &Service{
		cfg: cfg, nc: nc, p: p, log: log, loc: cfg.location(), now: time.Now,
		guard: newGuard(cfg), met: newMetrics(),
		platformPool: make(chan struct{}, cfg.Concurrency),
		readPool:     make(chan struct{}, cfg.Concurrency),
		stats:        map[string]*endpointStats{},
		done:         make(chan struct{}),
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	if s.st, err = openStore(ctx, js, cfg); err != nil {
		return nil, err
	}
	s.st.onConflict = s.met.conflicts.Inc
	if cfg.ViewMaxRecords > 0 {
		if s.st.view, err = startView(ctx, nc, s.st.confs, cfg.ViewMaxRecords, log.With().Str("part", "view").Logger(),
			s.st.decodeSeen, s.st.forgetBefore, s.met.viewReads.WithLabelValues("hit"), s.met.viewReads.WithLabelValues("kv")); err != nil {
			return nil, fmt.Errorf("conferences view: %w", err)
		}
		s.met.watchView(s.st.view)
	}
	if s.st.limits != nil {
		s.guard.shared = &kvLimiter{kv: s.st.limits, burst: cfg.InviteBurst, now: time.Now, batch: true}
		if cfg.InviteRatePerSec > 0 {
			s.guard.shared.interval = time.Duration(float64(time.Second) / cfg.InviteRatePerSec)
		}
		if cfg.GlobalRatePerSec > 0 {
			// The global bucket is one key of the same KV bucket, shared
			// by every instance (see guard.go).
			s.guard.globalKV = &kvLimiter{kv: s.st.limits, burst: cfg.GlobalBurst, now: time.Now,
				interval: time.Duration(float64(time.Second) / cfg.GlobalRatePerSec), batch: true}
		}
	}
	s.budget = newBudget(cfg, s.st, s.met.reg)
	cfg.Tracer.UseCalls(js, cfg.KVReplicas) // the callbacks' link to their command (pkg/tracing)
	s.idem = &idempotency{kv: s.st.idem, stale: cfg.IdempotencyStale, instance: cfg.InstanceName, now: time.Now,
		hits: func(o string) { s.met.idem.WithLabelValues(o).Inc() }}
	if s.cons, err = startConsumer(ctx, js, s.st, cfg, log.With().Str("part", "events").Logger(), s.met); err != nil {
		s.st.view.stop()
		return nil, err
	}
	if err := s.register(); err != nil {
		s.cons.close()
		s.st.view.stop()
		return nil, err
	}
	// The endpoints' subscriptions reach the server before New returns.
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("flush: %w", err)
	}
	log.Info().Str("version", contract.ServiceVersion).Int("concurrency", cfg.Concurrency).Msg("conference service started")
	return s, nil
}

func (s *Service) register() error {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        contract.ServiceName,
		Version:     contract.ServiceVersion,
		Description: "confapplet conference commands (Yuntongxun IVR conferences)",
		QueueGroup:  contract.ServiceQueueGroup,
		Metadata:    map[string]string{"instance": s.cfg.InstanceName},
		StatsHandler: func(e *micro.Endpoint) any {
			st := s.stats[e.Name]
			if st == nil {
				return nil
			}
			// Replies are sent by the worker pool, after micro's handler
			// returned, so micro's own num_errors stays 0: these count them.
			return map[string]int64{"errors": st.errors.Load(), "inflight": st.inflight.Load()}
		},
		DoneHandler: func(micro.Service) {
			s.fail(errors.New("micro service stopped"))
		},
		ErrorHandler: func(svc micro.Service, e *micro.NATSError) {
			s.log.Error().Str(logging.Subject, e.Subject).Str("error", e.Description).Msg("service subscription error; stopping")
			s.fail(fmt.Errorf("service subscription %s: %s", e.Subject, e.Description))
			go svc.Stop()
		},
	})
	if err != nil {
		return fmt.Errorf("add micro service: %w", err)
	}
	s.svc = svc
	g := svc.AddGroup(contract.ServiceSubjectPrefix, micro.WithGroupQueueGroup(contract.ServiceQueueGroup))
	handlers := s.handlers()
	for _, spec := range contract.MethodTable {
		if spec.Server != contract.ServedByConference {
			continue
		}
		h := handlers[spec.Name]
		if h == nil {
			_ = svc.Stop()
			return fmt.Errorf("method %s has no handler", spec.Name)
		}
		s.stats[spec.Name] = &endpointStats{}
		if err := g.AddEndpoint(spec.Name, s.endpoint(spec, h),
			micro.WithEndpointPendingLimits(64*1024, 64<<20)); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("add endpoint %s: %w", spec.Name, err)
		}
	}
	return nil
}

// handlers are the service's methods (contract.MethodTable says which it
// serves; TestEveryMethodHasAHandler checks they agree).
func (s *Service) handlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		contract.MethodCreateConf:     s.createConf,
		contract.MethodDismissConf:    s.dismissConf,
		contract.MethodInviteJoinConf: s.inviteJoinConf,
		contract.MethodQuitConf:       s.quitConf,
		contract.MethodQueryConfState: s.queryConfState,
		contract.MethodGetConf:        s.getConf,
		contract.MethodConfMute:       s.confMute(true),
		contract.MethodConfUnMute:     s.confMute(false),
		contract.MethodConfRecord:     s.confRecord(true),
		contract.MethodConfStopRecord: s.confRecord(false),
		contract.MethodListOwned:      s.listOwned,
		contract.MethodAuthorizeWatch: s.authorizeWatch,
	}
}

// fail records why the service stopped on its own (first reason wins) and
// signals Done.
func (s *Service) fail(err error) {
	s.failure.CompareAndSwap(nil, &err)
	s.stopOnce.Do(func() { close(s.done) })
}

// Done is closed when the micro service stopped, by Stop or on its own
// (a slow consumer, the connection closed); Err says why.
func (s *Service) Done() <-chan struct{} { return s.done }

// Err is the reason the service stopped on its own; nil after a plain Stop.
func (s *Service) Err() error {
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Registry is the service's own Prometheus registry (served on /metrics).
func (s *Service) Registry() *prometheus.Registry { return s.met.reg }

// isOperator compares tok with the configured operator token in constant
// time; with no token configured nobody is an operator.
func (s *Service) isOperator(tok string) bool {
	return s.cfg.OperatorToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.OperatorToken)) == 1
}

// Ready reports whether the instance serves requests.
func (s *Service) Ready() error {
	if s.nc.Status() != nats.CONNECTED {
		return fmt.Errorf("nats %s", s.nc.Status())
	}
	select {
	case <-s.done:
		return errors.New("service stopped")
	default:
	}
	return nil
}

// Stop stops taking requests, lets in-flight ones finish for up to
// Config.ShutdownGrace, stops the events consumer and returns. It does not
// close the NATS connection.
func (s *Service) Stop() {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.closing.Store(true)
	s.mu.Unlock()
	if already {
		return
	}
	// A plain Stop is no failure: take the slot the DoneHandler would fill.
	var none error
	s.failure.CompareAndSwap(nil, &none)
	if err := s.svc.Stop(); err != nil {
		s.log.Warn().Err(err).Msg("micro stop")
	}
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(s.cfg.ShutdownGrace):
		s.cancel()
		<-waited
	}
	s.cancel()
	s.cons.close()
	s.st.wait()
	s.st.view.stop()
	s.stopOnce.Do(func() { close(s.done) })
	s.log.Info().Msg("conference service stopped")
}
