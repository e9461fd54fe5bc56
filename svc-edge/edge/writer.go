package edge

import (
	"encoding/binary"
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
	// Close sends a close frame with code and its reason of
	// contract.Closes (once; later calls are ignored) and ends the
	// connection.
	Close(code int)
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
// with CloseSlowConsumer. The flusher encodes whatever is queued (a ping,
// messages) into one frame buffer taken from a pool, and writes it to the
// socket with one system call; the edge writes every frame itself (close
// and pong frames too, see onPing, onClose), never through gorilla's
// writer.
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

	wmu       sync.Mutex // held while writing to the socket
	closeSent bool       // a close frame was written (wmu)
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
		t.Close(contract.CloseSlowConsumer)
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

		// The whole batch (the ping first) is encoded into one pooled
		// buffer and written with one system call (several for a batch
		// longer than batchBytes).
		deadline := time.Now().Add(t.writeTimeout)
		bp := framePool.Get().(*[]byte)
		buf := (*bp)[:0]
		n := 0
		var err error
		if ping {
			buf = appendFrame(buf, websocket.PingMessage, nil)
		}
		for i, m := range batch {
			if err == nil {
				buf = appendFrame(buf, websocket.TextMessage, m)
				n += len(m)
				if len(buf) >= batchBytes {
					err = t.writeFrames(buf, deadline)
					buf = buf[:0]
				}
			}
			batch[i] = nil
		}
		if err == nil && len(buf) > 0 {
			err = t.writeFrames(buf, deadline)
		}
		if cap(buf) <= maxPooledFrameBuf {
			*bp = buf[:0]
			framePool.Put(bp)
		}
		t.mu.Lock()
		t.queued -= n
		if cap(batch) <= 64 {
			t.spare = batch[:0]
		}
		t.mu.Unlock()
		if err != nil && !errors.Is(err, ErrClosed) {
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

// batchBytes is how many encoded bytes the flusher gathers before a write;
// maxPooledFrameBuf the largest buffer it returns to framePool.
const (
	batchBytes        = 32 << 10
	maxPooledFrameBuf = 64 << 10
)

// framePool holds the flushers' frame buffers (no buffer per connection).
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// appendFrame appends one unfragmented, unmasked (server to client) frame.
func appendFrame(b []byte, op int, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, 0x80|byte(op), byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|byte(op), 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|byte(op), 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// writeFrames writes encoded data frames to the socket, unless a close
// frame was sent or the transport closed (then ErrClosed). Every write of
// the transport goes through wmu, so frames never interleave and nothing
// follows the close frame; one Write per call (a net.Conn's Write is not
// interleaved with another's).
func (t *wsTransport) writeFrames(buf []byte, deadline time.Time) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.closeSent || t.isClosed() {
		return ErrClosed
	}
	nc := t.conn.UnderlyingConn()
	if err := nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := nc.Write(buf)
	return err
}

// writeControl writes one control frame (close, pong) after any batch being
// written; nothing is written after a close frame.
func (t *wsTransport) writeControl(op int, payload []byte, deadline time.Time) error {
	var a [2 + 125]byte
	if len(payload) > 125 {
		payload = payload[:125]
	}
	b := appendFrame(a[:0], op, payload)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.closeSent {
		return ErrClosed
	}
	if op == websocket.CloseMessage {
		t.closeSent = true
	}
	nc := t.conn.UnderlyingConn()
	if err := nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := nc.Write(b)
	return err
}

// onPing answers a peer's ping (gorilla's ping handler): the pong goes
// through the transport's writes, after any batch being written.
func (t *wsTransport) onPing(data string) error {
	_ = t.writeControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	return nil
}

// onClose answers a peer's close frame (gorilla's close handler): no more
// messages, and the close frame echoed unless this side sent one already.
func (t *wsTransport) onClose(code int, _ string) error {
	t.mu.Lock()
	t.closed = true
	t.queue = nil
	t.mu.Unlock()
	_ = t.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	return nil
}

func (t *wsTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close sends the close frame without blocking the caller (a slow consumer
// may be closed from the fan-out path) and drops the socket once the peer
// answered or closeGrace passed.
func (t *wsTransport) Close(code int) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed, t.code = true, code
	t.queue = nil
	t.mu.Unlock()
	go func() {
		// Waits for a batch being written (bounded by its deadline).
		_ = t.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, contract.Closes[code].Reason), time.Now().Add(t.writeTimeout))
		timer := time.AfterFunc(closeGrace, func() { t.conn.Close() })
		_ = timer
	}()
}

// closeWait is Close for the reader, which drops the socket as soon as it
// returns: the close frame is written first (bounded by the write timeout).
func (t *wsTransport) closeWait(code int) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed, t.code = true, code
	t.queue = nil
	t.mu.Unlock()
	_ = t.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, contract.Closes[code].Reason), time.Now().Add(t.writeTimeout))
}

// closeCode is the code this side sent, 0 if none.
func (t *wsTransport) closeCode() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.code
}
