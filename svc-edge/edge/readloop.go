package edge

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"time"
	"unicode/utf8"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
)

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
	if reason != closeReason(contract.CloseSlowConsumer) { // counted by onSlow
		srv.metrics.disconnects.WithLabelValues(reason).Inc()
	}
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
		if !utf8.Valid(data) {
			// RFC 6455 (8.1) requires failing the connection; answering
			// would not even be possible faithfully, as the id itself may
			// be the bytes that are not UTF-8.
			t.closeWait(contract.CloseBadText)
			return errBadText
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

// errBadText ends a connection that sent a text frame that is not UTF-8.
var errBadText = errors.New("text frame is not valid UTF-8")

// errBinary answers a binary frame: the protocol is JSON text frames.
var errBinary = []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: binary frames are not supported; send JSON text frames"}}`)

// closeReason is the metric label of a close code.
func closeReason(code int) string {
	if c, ok := contract.Closes[code]; ok {
		return c.Label
	}
	return strconv.Itoa(code)
}

// onSlow counts a slow-consumer disconnect when it is decided (serveConn
// does not count it again).
func (srv *Server) onSlow() { srv.metrics.disconnects.WithLabelValues("slow").Inc() }
