// Package edge is svc-edge: it terminates browsers' WebSocket JSON-RPC 2.0,
// turns each request into a NATS request to the conference service, and fans
// conference events out to the sessions that watch them.
//
// A file per concept:
//   - config.go: settings; server.go: the Server (New, Shutdown); run.go:
//     the process (Run, Serve); routes.go: HTTP routes; metrics.go.
//   - upgrade.go: admission and the WebSocket upgrade; readloop.go: a
//     connection's reader goroutine; keepalive.go: the edge's one pinger;
//     registry.go: one session per client id, across edges; resume.go: what
//     a new session watches (owned conferences, ?resume=).
//   - session.go: one connection's request queue, answered in request
//     order; rpc.go: the method dispatch (built from contract.MethodTable),
//     forwarding and error mapping; writer.go: Transport and the socket
//     writer; auth.go: connection tokens.
//   - hub.go: the fan-out hub (one subscription per conference);
//     confsub.go: reading one conference's new events and fanning them out;
//     stream.go: reads of the events stream; watch.go: one session's watch,
//     its replay and live delivery, decided by the pure package
//     svc-edge/internal/recovery.
//
// In a test, start an edge in-process with New and serve Handler yourself,
// or call Serve with Config.OnListen to learn the bound address:
//
//	cfg := edge.DefaultConfig()
//	cfg.Addr = "127.0.0.1:0"
//	cfg.OnListen = func(addr string) { ready <- addr }
//	go edge.Serve(ctx, cfg, log)
package edge

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"
)

// Server is one edge: sessions, the fan-out hub and the HTTP handler. It
// uses a NATS connection it does not own (Run/Serve own theirs).
type Server struct {
	cfg     Config
	nc      *nats.Conn
	log     zerolog.Logger
	id      string
	metrics *metrics
	hub     *hub
	auth    *verifier // nil: connection tokens are not checked
	handler http.Handler
	ws      websocket.Upgrader
	subs    []*nats.Subscription
	conns   atomic.Int64
	connSeq atomic.Uint64
	wg      sync.WaitGroup // live connections

	pingDone chan struct{} // closed to stop pingLoop
	pingStop sync.Once

	mu       sync.Mutex
	sessions map[string]*session // by client id
	wheel    *pingWheel          // the pinger's (keepalive.go)
	closing  bool
	natsLost *time.Timer // running while NATS is disconnected
}

// New builds an edge on nc (which it does not close) and subscribes to the
// ownership and session notices.
func New(cfg Config, nc *nats.Conn, log zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = nuid.Next()
	}
	srv := &Server{cfg: cfg, nc: nc, log: log, id: cfg.InstanceID, metrics: newMetrics(), sessions: map[string]*session{},
		wheel: newPingWheel(cfg), pingDone: make(chan struct{})}
	srv.hub = newHub(nc, js, log, srv.metrics, cfg.ReplayTimeout)
	srv.hub.tr = cfg.Tracer
	if srv.auth, err = newVerifier(cfg); err != nil {
		return nil, err
	}
	if srv.auth == nil {
		log.Warn().Msg("INSECURE: no connection token key (EDGE_INSECURE_NO_AUTH): anyone can connect as any client id and act on its conferences")
	}
	if n := len(cfg.AuthSecret); n > 0 && n < minSecretLen {
		log.Warn().Int("bytes", n).Msgf("EDGE_AUTH_SECRET is shorter than %d bytes: HS256 tokens can be forged by guessing it (openssl rand -hex 32)", minSecretLen)
	}
	srv.ws = websocket.Upgrader{
		ReadBufferSize:  0, // the connection's read buffer is the edge's (see hijacker)
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     srv.checkOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			srv.metrics.rejected.WithLabelValues("handshake").Inc()
			http.Error(w, reason.Error(), status)
		},
	}
	for subj, fn := range map[string]nats.MsgHandler{contract.OwnedWildcard: srv.onOwned, contract.SessionWildcard: srv.onSession} {
		sub, err := nc.Subscribe(subj, fn)
		if err != nil {
			srv.close()
			return nil, fmt.Errorf("subscribe %s: %w", subj, err)
		}
		srv.subs = append(srv.subs, sub)
	}
	// After a reconnect, events stored while the edge was away were not
	// republished to it: look in the stream for every conference. NATS gone for
	// longer than NATSGrace: sessions are closed (4003) to move elsewhere.
	prevRe, prevDis := nc.Opts.ReconnectedCB, nc.Opts.DisconnectedErrCB
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prevRe != nil {
			prevRe(c)
		}
		srv.mu.Lock()
		if srv.natsLost != nil {
			srv.natsLost.Stop()
			srv.natsLost = nil
		}
		srv.mu.Unlock()
		srv.Resync()
	})
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		if prevDis != nil {
			prevDis(c, err)
		}
		srv.mu.Lock()
		if srv.natsLost == nil && !srv.closing {
			srv.natsLost = time.AfterFunc(cfg.NATSGrace, srv.onNATSLost)
		}
		srv.mu.Unlock()
	})
	srv.handler = srv.routes()
	go srv.pingLoop()
	return srv, nil
}

// onNATSLost closes every session with CloseServerFailure: without NATS
// this edge can neither answer requests nor deliver events.
func (srv *Server) onNATSLost() {
	srv.mu.Lock()
	if srv.natsLost == nil || srv.nc.IsConnected() {
		srv.mu.Unlock()
		return
	}
	all := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	srv.log.Error().Int("sessions", len(all)).Msg("NATS unreachable: closing sessions")
	for _, s := range all {
		s.t.Close(contract.CloseServerFailure)
	}
}

// Resync makes every conference subscription read the stream for events it
// may have missed (New calls it on NATS reconnects; Serve also on a slow-
// consumer error, when republished events may have been dropped).
func (srv *Server) Resync() { srv.hub.resync() }

// Handler serves the WebSocket endpoint, the page and the ops endpoints.
func (srv *Server) Handler() http.Handler { return srv.handler }

// ID is the edge's instance id.
func (srv *Server) ID() string { return srv.id }

func (srv *Server) close() {
	srv.stopPinger()
	for _, s := range srv.subs {
		_ = s.Unsubscribe()
	}
	srv.hub.close()
}

// Shutdown stops accepting connections, closes every session with 1001
// spread over Config.ShutdownWindow, waits for them (until ctx is done) and
// releases its NATS subscriptions. It does not close the NATS connection.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.closing = true
	if srv.natsLost != nil {
		srv.natsLost.Stop()
		srv.natsLost = nil
	}
	all := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	for _, s := range srv.subs {
		_ = s.Unsubscribe()
	}
	start := time.Now()
	for i, s := range all {
		if due := start.Add(srv.cfg.ShutdownWindow * time.Duration(i) / time.Duration(len(all))); time.Until(due) > 0 {
			select {
			case <-time.After(time.Until(due)):
			case <-ctx.Done():
			}
		}
		s.t.Close(contract.CloseGoingAway)
	}
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	srv.stopPinger()
	srv.hub.close()
	return err
}
