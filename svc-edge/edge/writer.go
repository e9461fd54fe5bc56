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

// wsTransport writes to a gorilla connection. It has no goroutine while
// idle: Write starts a flusher when the queue becomes non-empty, and the
// flusher exits when it is empty again. The queue is bounded in bytes;
// overflowing it closes the connection with CloseSlowConsumer.
type wsTransport struct {
	conn         *websocket.Conn
	maxBytes     int
	writeTimeout time.Duration
	onSlow       func()

	mu      sync.Mutex
	queue   [][]byte
	spare   [][]byte
	queued  int // bytes in queue plus bytes being written
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

func (t *wsTransport) flush() {
	for {
		t.mu.Lock()
		if t.closed || len(t.queue) == 0 {
			t.writing = false
			t.mu.Unlock()
			return
		}
		batch := t.queue
		t.queue, t.spare = t.spare[:0], nil
		t.mu.Unlock()

		_ = t.conn.SetWriteDeadline(time.Now().Add(t.writeTimeout))
		n := 0
		var err error
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

// closeCode is the code this side sent, 0 if none.
func (t *wsTransport) closeCode() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.code
}
