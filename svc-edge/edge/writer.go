package edge

import (
	"errors"
	"sync"
	"time"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
)

// Transport is the seam between session logic and the socket: sessions only
// queue whole messages and ask for a close. Tests and benchmarks use an
// in-memory Transport.
type Transport interface {
	// Write queues one text message. msg is not copied and may be shared by
	// many transports (fan-out): neither side may modify it afterwards.
	// Write never blocks on the network.
	Write(msg []byte) error
	// Close sends a close frame with code and reason (once; later calls are
	// ignored) and ends the connection.
	Close(code int, reason string)
}

// Errors of Transport.Write.
var (
	ErrClosed = errors.New("edge: connection closed")
	ErrSlow   = errors.New("edge: outgoing queue full (slow consumer)")
)

// closeGrace is how long the edge waits for the peer's close frame after
// sending its own before it drops the TCP connection.
const closeGrace = 2 * time.Second

// wsTransport writes to a gorilla connection. It has no goroutine and holds
// no buffer while idle: Write (or ping) starts a flusher when there is
// something to send, and the flusher exits, dropping its queue, when it is
// done. The queue is bounded in bytes; overflowing it closes the connection
// with CloseSlowConsumer. gorilla's write buffer comes from the Upgrader's
// pool only while a message is being written.
type wsTransport struct {
	conn         *websocket.Conn
	maxBytes     int
	writeTimeout time.Duration
	onSlow       func()

	mu      sync.Mutex
	queue   [][]byte
	spare   [][]byte
	queued  int  // bytes in queue plus bytes being written
	pingDue bool // the pinger asked for a ping
	writing bool
	closed  bool
	code    int // close code sent, 0 while open
}

func newWSTransport(conn *websocket.Conn, maxBytes int, writeTimeout time.Duration, onSlow func()) *wsTransport {
	return &wsTransport{conn: conn, maxBytes: maxBytes, writeTimeout: writeTimeout, onSlow: onSlow}
}

func (t *wsTransport) Write(msg []byte) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	if t.queued+len(msg) > t.maxBytes {
		t.mu.Unlock()
		if t.onSlow != nil {
			t.onSlow()
		}
		t.Close(contract.CloseSlowConsumer, "slow consumer")
		return ErrSlow
	}
	t.queue = append(t.queue, msg)
	t.queued += len(msg)
	start := !t.writing
	t.writing = true
	t.mu.Unlock()
	if start {
		go t.flush()
	}
	return nil
}

// ping queues a keep-alive ping (the server's pinger calls it every
// Config.PingInterval). It is written by the flusher, in order with the
// messages, so a stuck peer never blocks the pinger.
func (t *wsTransport) ping() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.pingDue = true
	start := !t.writing
	t.writing = true
	t.mu.Unlock()
	if start {
		go t.flush()
	}
}

func (t *wsTransport) flush() {
	for {
		t.mu.Lock()
		if t.closed || (len(t.queue) == 0 && !t.pingDue) {
			t.writing = false
			t.queue, t.spare = nil, nil // idle: hold no buffers
			t.mu.Unlock()
			return
		}
		ping := t.pingDue
		t.pingDue = false
		batch := t.queue
		t.queue, t.spare = t.spare[:0], nil
		t.mu.Unlock()

		deadline := time.Now().Add(t.writeTimeout)
		_ = t.conn.SetWriteDeadline(deadline)
		n := 0
		var err error
		if ping {
			err = t.conn.WriteControl(websocket.PingMessage, nil, deadline)
		}
		for i, m := range batch {
			if err == nil && !t.isClosed() {
				err = t.conn.WriteMessage(websocket.TextMessage, m)
				n += len(m)
			}
			batch[i] = nil
		}
		t.mu.Lock()
		t.queued -= n
		if cap(batch) <= 64 {
			t.spare = batch[:0]
		}
		t.mu.Unlock()
		if err != nil {
			// A write that missed its deadline or failed: the peer is gone or
			// not reading. The reader goroutine sees the closed socket.
			t.mu.Lock()
			t.closed, t.writing = true, false
			t.queue = nil
			t.mu.Unlock()
			t.conn.Close()
			return
		}
	}
}

func (t *wsTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close sends the close frame without blocking the caller (a slow consumer
// may be closed from the fan-out path) and drops the socket once the peer
// answered or closeGrace passed.
func (t *wsTransport) Close(code int, reason string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed, t.code = true, code
	t.queue = nil
	t.mu.Unlock()
	go func() {
		// WriteControl waits for a write in progress; bound it.
		_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(t.writeTimeout))
		timer := time.AfterFunc(closeGrace, func() { t.conn.Close() })
		_ = timer
	}()
}

// closeWait is Close for the reader, which drops the socket as soon as it
// returns: the close frame is written first (bounded by the write timeout).
func (t *wsTransport) closeWait(code int, reason string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed, t.code = true, code
	t.queue = nil
	t.mu.Unlock()
	_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(t.writeTimeout))
}

// closeCode is the code this side sent, 0 if none.
func (t *wsTransport) closeCode() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.code
}
