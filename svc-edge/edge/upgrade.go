package edge

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"confapplet/pkg/contract"
	"confapplet/pkg/logging"

	"github.com/gorilla/websocket"
)

// checkOrigin applies Config.AllowedOrigins (default: localhost, and the
// serving host when tokens are required); requests without Origin
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
		// Host names are case-insensitive (RFC 4343); browsers lower-case
		// them, other clients may not.
		switch strings.ToLower(u.Hostname()) {
		case "localhost", "127.0.0.1", "::1":
			return true
		}
		// The serving host is trusted only when connections need a token:
		// without one, a page whose DNS name was rebound to this edge's
		// address (Origin and Host both the attacker's name) would act as
		// anyone on an intranet edge.
		if srv.auth != nil && strings.EqualFold(u.Host, r.Host) {
			return true
		}
		srv.metrics.rejected.WithLabelValues("origin").Inc()
		return false
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
	adm, ok := srv.admit(w, r)
	if !ok || !srv.reserveSlot(w) {
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
	s := newSession(srv, connID, adm.clientID, r.URL.Query().Get("operator"), t)
	s.start = arrived
	s.setIdentity(adm.id)
	s.source = sourceAddr(r, srv.cfg.TrustedProxies)
	switch srv.register(s) {
	case registerClosing:
		t.Close(contract.CloseGoingAway)
	case registerStale:
		t.Close(contract.CloseReplaced)
	}
	s.logDebug().Str("remote", r.RemoteAddr).Str("source", s.source).Msg("connected")
	s.enqueue(job{task: func() { srv.startSession(s, adm.resume) }})
	srv.keepAlive(conn, t)
	go srv.serveConn(conn, hj.br, s, t)
}

// admission is what a connection request asked for, once checked.
type admission struct {
	clientID string
	resume   map[string]uint64
	id       identity
}

// admit checks the client id, ?resume= and the token; on a refusal it has
// answered the request and counted the reason.
func (srv *Server) admit(w http.ResponseWriter, r *http.Request) (admission, bool) {
	adm := admission{clientID: r.PathValue("client_id")}
	if !contract.ValidClientID(adm.clientID) {
		srv.metrics.rejected.WithLabelValues("bad_client_id").Inc()
		http.Error(w, "client id must be 1-64 characters of A-Z a-z 0-9 _ -", http.StatusBadRequest)
		return adm, false
	}
	var err error
	if adm.resume, err = parseResume(r.URL.Query().Get("resume")); err != nil {
		srv.metrics.rejected.WithLabelValues("bad_resume").Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return adm, false
	}
	if srv.auth != nil {
		var why string
		if adm.id, why = srv.auth.verify(bearer(r), adm.clientID, time.Now()); why != "" {
			srv.metrics.rejected.WithLabelValues("auth").Inc()
			srv.log.Info().Str(logging.ClientID, adm.clientID).Str("remote", r.RemoteAddr).Str("why", why).Msg("connection refused")
			http.Error(w, why, http.StatusUnauthorized)
			return adm, false
		}
	}
	return adm, true
}

// reserveSlot counts the connection in wg and against MaxConns, or answers
// 503. wg.Add happens under mu, before Shutdown sets closing, so it is
// never concurrent with Shutdown's wg.Wait.
func (srv *Server) reserveSlot(w http.ResponseWriter) bool {
	srv.mu.Lock()
	closing := srv.closing
	if !closing {
		srv.wg.Add(1)
	}
	srv.mu.Unlock()
	if closing {
		srv.metrics.rejected.WithLabelValues("shutting_down").Inc()
		http.Error(w, "edge shutting down", http.StatusServiceUnavailable)
		return false
	}
	if n := srv.conns.Add(1); n > int64(srv.cfg.MaxConns) {
		srv.conns.Add(-1)
		srv.wg.Done()
		srv.metrics.rejected.WithLabelValues("max_conns").Inc()
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// keepAlive sets the read deadline rules: the pinger (one goroutine for
// the edge) pings every PingInterval; any frame, pongs and the client's
// own pings included, pushes the read deadline; missing it closes with
// CloseNoPong.
func (srv *Server) keepAlive(conn *websocket.Conn, t *wsTransport) {
	alive := srv.cfg.PingInterval + srv.cfg.PongWait
	_ = conn.SetReadDeadline(time.Now().Add(alive))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(alive)) })
	// gorilla answers a client's ping inside a read that goes on, so the
	// deadline is pushed here (docs/protocol.md §1.5).
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(alive))
		return t.onPing(data)
	})
	conn.SetCloseHandler(t.onClose)
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
