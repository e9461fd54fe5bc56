// Package edge is svc-edge: it terminates browsers' WebSocket JSON-RPC 2.0,
// turns each request into a NATS request to the conference service, and fans
// conference events out to the sessions that watch them.
//
// A file per concept: config.go (settings), run.go (the process: Run,
// Serve), server.go (the WebSocket endpoint), routes.go (HTTP routes), session.go (one connection's
// request queue), writer.go (Transport and the socket writer), rpc.go
// (forwarding and error mapping), hub.go (fan-out and resume), metrics.go.
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
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"

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
		pingDone: make(chan struct{})}
	srv.hub = newHub(nc, js, log, srv.metrics, cfg.ReplayTimeout)
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
	// After a reconnect, events stored while the edge was away rang no
	// doorbell here: look in the stream for every conference. NATS gone for
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
// consumer error, when doorbells may have been dropped).
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

// checkOrigin applies Config.AllowedOrigins; requests without Origin
// (non-browser clients) pass.
func (srv *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if len(srv.cfg.AllowedOrigins) == 0 {
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
			return true
		}
		return strings.EqualFold(u.Host, r.Host)
	}
	for _, a := range srv.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(a, origin) || strings.EqualFold(a, u.Host) || strings.EqualFold(a, u.Hostname()) {
			return true
		}
	}
	srv.metrics.rejected.WithLabelValues("origin").Inc()
	return false
}

// serveWS is /client/{client_id}: checks, then the upgrade.
func (srv *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	clientID := r.PathValue("client_id")
	if !contract.ValidClientID(clientID) {
		srv.metrics.rejected.WithLabelValues("bad_client_id").Inc()
		http.Error(w, "client id must be 1-64 characters of A-Z a-z 0-9 _ -", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	resume, err := parseResume(q.Get("resume"))
	if err != nil {
		srv.metrics.rejected.WithLabelValues("bad_resume").Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if srv.cfg.AuthSecret != "" {
		if why := checkToken(srv.cfg.AuthSecret, clientID, q.Get("token"), time.Now()); why != "" {
			srv.metrics.rejected.WithLabelValues("auth").Inc()
			srv.log.Debug().Str(logging.ClientID, clientID).Str("remote", r.RemoteAddr).Msg("connection refused: " + why)
			http.Error(w, why, http.StatusUnauthorized)
			return
		}
	}
	// wg.Add under mu, before Shutdown sets closing: never concurrent with
	// Shutdown's wg.Wait.
	srv.mu.Lock()
	closing := srv.closing
	if !closing {
		srv.wg.Add(1)
	}
	srv.mu.Unlock()
	if closing {
		srv.metrics.rejected.WithLabelValues("shutting_down").Inc()
		http.Error(w, "edge shutting down", http.StatusServiceUnavailable)
		return
	}
	if n := srv.conns.Add(1); n > int64(srv.cfg.MaxConns) {
		srv.conns.Add(-1)
		srv.wg.Done()
		srv.metrics.rejected.WithLabelValues("max_conns").Inc()
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	hj := &hijacker{ResponseWriter: w}
	conn, err := srv.ws.Upgrade(hj, r, nil)
	if err != nil {
		srv.conns.Add(-1)
		srv.wg.Done()
		return // Upgrade answered
	}
	srv.metrics.conns.Inc()
	srv.metrics.connsTotal.Inc()

	// Set up here, on the HTTP handler's goroutine (its stack is large
	// anyway and ends with this function): the reader goroutine started
	// below only ever runs the read loop, so its stack stays small.
	conn.SetReadLimit(srv.cfg.ReadLimit)
	connID := srv.id + "-" + strconv.FormatUint(srv.connSeq.Add(1), 36)
	t := newWSTransport(conn, srv.cfg.SendQueueBytes, srv.cfg.WriteTimeout, srv.onSlow)
	s := newSession(srv, connID, clientID, q.Get("operator"), t)
	s.start = arrived
	switch srv.register(s) {
	case registerClosing:
		t.Close(contract.CloseGoingAway)
	case registerStale:
		t.Close(contract.CloseReplaced)
	}
	s.logDebug().Str("remote", r.RemoteAddr).Msg("connected")
	s.enqueue(job{task: func() { srv.startSession(s, resume) }})

	// Keep-alive: the pinger (one goroutine for the edge) pings every
	// PingInterval; any frame (pongs included) pushes the read deadline;
	// missing it closes with CloseNoPong.
	alive := srv.cfg.PingInterval + srv.cfg.PongWait
	_ = conn.SetReadDeadline(time.Now().Add(alive))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(alive)) })
	conn.SetPingHandler(t.onPing)
	conn.SetCloseHandler(t.onClose)
	go srv.serveConn(conn, hj.br, s, t)
}

// readBufferSize is a connection's read buffer: small, as an idle
// connection holds it for its whole life (gorilla reads a longer message
// past it, straight into the message). It must exceed 256 for gorilla to
// take it (Upgrader.ReadBufferSize 0: "reuse the hijacked reader").
const readBufferSize = 264

// hijacker gives gorilla a read buffer the edge owns (and can look into, see
// readLoop) instead of net/http's 4 KiB one, which is released with the
// rest of the HTTP connection's state.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Reader.Buffered() == 0 { // else gorilla refuses the upgrade
		h.br = bufio.NewReaderSize(c, readBufferSize)
		brw = bufio.NewReadWriter(h.br, brw.Writer)
	}
	return c, brw, nil
}

func (srv *Server) onSlow() { srv.metrics.disconnects.WithLabelValues("slow").Inc() }

// serveConn is a connection's reader goroutine, until the connection ends:
// the only goroutine of an idle connection.
func (srv *Server) serveConn(conn *websocket.Conn, br *bufio.Reader, s *session, t *wsTransport) {
	err := srv.readLoop(conn, br, s, t)
	reason := "client"
	var ne net.Error
	switch {
	case t.closeCode() != 0:
		reason = closeReason(t.closeCode())
	case errors.Is(err, websocket.ErrReadLimit):
		reason = closeReason(contract.CloseTooBig) // gorilla sent it
	case errors.As(err, &ne) && ne.Timeout():
		reason = closeReason(contract.CloseNoPong)
		t.closeWait(contract.CloseNoPong)
	}
	srv.unregister(s)
	s.close()
	conn.Close()
	srv.metrics.disconnects.WithLabelValues(reason).Inc()
	s.logDebug().Str("reason", reason).Msg("disconnected")
	srv.metrics.conns.Dec()
	srv.conns.Add(-1)
	srv.wg.Done()
}

// readLoop reads messages until an error.
//
// An idle connection's goroutine is parked here, and its stack is most of
// what the connection costs: while nothing is buffered it waits in br.Peek,
// a few frames deep, instead of deep inside gorilla, and it consumes the
// peer's pongs itself, so a connection that only answers pings never enters
// gorilla's reader and keeps the smallest stack (2 KiB; gorilla's reader
// alone needs 4 KiB, and a stack is never shrunk back below what a goroutine
// parked in a socket read holds). Anything else, at a frame boundary (a
// message was read completely), goes to gorilla.
func (srv *Server) readLoop(conn *websocket.Conn, br *bufio.Reader, s *session, t *wsTransport) error {
	alive := srv.cfg.PingInterval + srv.cfg.PongWait
	for {
		if br != nil {
			n, err := pongFrame(br)
			if err != nil {
				return err
			}
			if n > 0 {
				_, _ = br.Discard(n)
				_ = conn.SetReadDeadline(time.Now().Add(alive))
				continue
			}
		}
		typ, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(alive))
		if typ != websocket.TextMessage {
			s.answer(errBinary)
			continue
		}
		s.handle(data)
	}
}

// pongFrame waits for the next frame and returns its length if it is a
// whole, masked pong frame with a short payload (what a client sends back
// for the edge's empty pings), else 0 (gorilla reads it).
func pongFrame(br *bufio.Reader) (int, error) {
	p, err := br.Peek(2)
	if err != nil {
		return 0, err
	}
	// FIN, no RSV bits, opcode 0xA (pong); masked; payload ≤ 125 bytes.
	if p[0] != 0x80|websocket.PongMessage || p[1]&0x80 == 0 || p[1]&0x7f > 125 {
		return 0, nil
	}
	n := 2 + 4 + int(p[1]&0x7f)
	if _, err := br.Peek(n); err != nil {
		return 0, err
	}
	return n, nil
}

// pingLoop is the edge's one pinger: every tick it pings the sessions
// whose PingInterval has passed since their last ping (no timer per
// connection). A tick is a fraction of the keep-alive bounds, so a ping is
// never late by more than that, and at most 100 ms, so the pings (each
// written by a short-lived flusher goroutine) are spread out in time.
func (srv *Server) pingLoop() {
	tick := min(srv.cfg.PingInterval, srv.cfg.PongWait) / 8
	tick = max(min(tick, 100*time.Millisecond), 5*time.Millisecond)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	var due []*session
	for {
		select {
		case <-srv.pingDone:
			return
		case now := <-tk.C:
			n := now.UnixNano()
			srv.mu.Lock()
			for _, s := range srv.sessions {
				if s.nextPing <= n {
					s.nextPing = n + int64(srv.cfg.PingInterval)
					due = append(due, s)
				}
			}
			srv.mu.Unlock()
			for i, s := range due {
				if p, ok := s.t.(interface{ ping() }); ok {
					p.ping()
				}
				due[i] = nil
			}
			if cap(due) > 1024 {
				due = nil
			} else {
				due = due[:0]
			}
		}
	}
}

func (srv *Server) stopPinger() { srv.pingStop.Do(func() { close(srv.pingDone) }) }

// errBinary answers a binary frame: the protocol is JSON text frames.
var errBinary = []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: binary frames are not supported; send JSON text frames"}}`)

// closeReason is the metric label of a close code.
func closeReason(code int) string {
	if c, ok := contract.Closes[code]; ok {
		return c.Label
	}
	return strconv.Itoa(code)
}

// Outcomes of register.
const (
	registered = iota
	registerClosing
	registerStale // a newer connection of the client is here already
)

// register makes s the session of its client id, replacing (4000) an older
// one here, and tells other edges to replace theirs. The connection that
// arrived last wins, whatever order the registrations run in.
func (srv *Server) register(s *session) int {
	srv.mu.Lock()
	if srv.closing {
		srv.mu.Unlock()
		return registerClosing
	}
	old := srv.sessions[s.clientID]
	if old != nil && old.start.After(s.start) {
		srv.mu.Unlock()
		return registerStale
	}
	// The first ping comes after half to all of PingInterval, so connections
	// that arrived together (a reconnect storm) are not pinged together.
	s.nextPing = time.Now().UnixNano() + int64(srv.cfg.PingInterval)/2 + rand.Int64N(int64(srv.cfg.PingInterval)/2+1)
	srv.sessions[s.clientID] = s
	srv.mu.Unlock()
	if old != nil {
		old.logInfo().Msg("replaced by a newer connection")
		old.t.Close(contract.CloseReplaced)
		old.close()
	}
	b, _ := json.Marshal(contract.SessionNotice{Edge: srv.id, Conn: s.connID, At: s.start.UnixNano()})
	_ = srv.nc.Publish(contract.SessionSubjectPrefix+s.clientID, b)
	return registered
}

func (srv *Server) unregister(s *session) {
	srv.mu.Lock()
	if srv.sessions[s.clientID] == s {
		delete(srv.sessions, s.clientID)
	}
	srv.mu.Unlock()
}

func (srv *Server) sessionOf(clientID string) *session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[clientID]
}

// onSession replaces a local session when the same client connected to
// another edge.
func (srv *Server) onSession(m *nats.Msg) {
	var n contract.SessionNotice
	if json.Unmarshal(m.Data, &n) != nil || n.Edge == srv.id {
		return
	}
	clientID := strings.TrimPrefix(m.Subject, contract.SessionSubjectPrefix)
	if s := srv.sessionOf(clientID); s != nil && (n.At == 0 || s.start.UnixNano() < n.At) {
		s.logInfo().Str("edge", n.Edge).Msg("replaced by a newer connection on another edge")
		s.t.Close(contract.CloseReplaced)
		s.close()
	}
}

// onOwned starts watching a conference the client created (through any edge).
func (srv *Server) onOwned(m *nats.Msg) {
	var n contract.OwnedNotice
	if json.Unmarshal(m.Data, &n) != nil || !contract.ValidConfID(n.ConfID) {
		return
	}
	if s := srv.sessionOf(strings.TrimPrefix(m.Subject, contract.OwnedSubjectPrefix)); s != nil {
		s.enqueue(job{task: func() { s.watch(n.ConfID, 0, true) }})
	}
}

// startSession runs first in a session's queue: it watches every live
// conference the client owns (conference.ListOwned), each from its resume
// seq, and the other conferences named in resume if the service allows.
func (srv *Server) startSession(s *session, resume map[string]uint64) {
	reqID := s.connID + "-0"
	res, rerr := srv.request(s, contract.MethodListOwned, []byte("{}"), reqID)
	var owned []string
	if rerr != nil {
		s.logWarn().Str(logging.Method, contract.MethodListOwned).Int("code", rerr.Code).Msg(rerr.Message)
	} else if err := json.Unmarshal(res, &owned); err != nil {
		s.logWarn().Err(err).Msg("ListOwned: bad reply")
	}
	seen := map[string]bool{}
	for _, id := range owned {
		if contract.ValidConfID(id) && !seen[id] {
			seen[id] = true
			s.watch(id, resume[id], true)
		}
	}
	for id, since := range resume {
		if seen[id] {
			continue
		}
		if _, rerr := srv.request(s, contract.MethodAuthorizeWatch, []byte(`{"confid":"`+id+`"}`), reqID); rerr != nil {
			s.logInfo().Str(logging.ConfID, id).Int("code", rerr.Code).Msg("resume: not watching")
			continue
		}
		s.watch(id, since, true)
	}
}

// parseResume reads "confid:seq,confid:seq".
func parseResume(v string) (map[string]uint64, error) {
	if v == "" {
		return nil, nil
	}
	m := map[string]uint64{}
	for item := range strings.SplitSeq(v, ",") {
		id, seqStr, ok := strings.Cut(item, ":")
		seq, err := strconv.ParseUint(seqStr, 10, 64)
		if !ok || err != nil || !contract.ValidConfID(id) {
			return nil, fmt.Errorf("resume: %q is not confid:seq", item)
		}
		if len(m) >= 256 {
			return nil, errors.New("resume: too many conferences")
		}
		m[id] = seq
	}
	return m, nil
}
