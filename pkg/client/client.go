// Package client is a Go client of confapplet's browser protocol
// (docs/protocol.md): JSON-RPC 2.0 over a WebSocket to svc-edge.
//
// A Client holds one WebSocket at a time. Calls are pipelined over it with
// numeric ids and may be made from any number of goroutines; notifications
// arrive on Notifications() (or a handler). The client keeps, per
// conference, the seq of the last event notification it delivered, and in
// reconnecting mode (WithReconnect) it reconnects after a disconnect with
// exponential backoff and full jitter, rotating across the edge URLs it was
// given, passing ?resume=<confid>:<seq>,… so the edge replays what was
// missed, and re-issues the WatchConf calls made through the WatchConf
// helper. A call in flight when a connection drops fails with
// ErrConnectionLost: its outcome is unknown (retry CreateConf and
// InviteJoinConf only with an idempotency key).
//
// Close ends every goroutine the client started.
//
// Files: client.go (the Client and its calls), options.go (Dial's
// options), connection.go (one WebSocket: dialling, reading, keep-alive,
// reconnecting with resume), errors.go, methods.go (one function per
// protocol method).
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
)

// Notification is one JSON-RPC notification pushed by the edge.
type Notification struct {
	Method string          // e.g. "OnConfInviteJoin"
	Params json.RawMessage // params by name, as received
	ConfID string          // params.confid, "" when absent
	// Seq is params.seq: the event's sequence for event notifications, the
	// last stored seq for OnConfWatch, 0 for OnConfEventsLost.
	Seq      uint64
	Received time.Time // when the frame was read
}

// Decode unmarshals n.Params into v.
func (n Notification) Decode(v any) error { return json.Unmarshal(n.Params, v) }

// IsEvent reports whether n is a conference event (it carries a seq that
// counts toward resume), as opposed to OnConfWatch or OnConfEventsLost.
func (n Notification) IsEvent() bool {
	return n.ConfID != "" && n.Method != contract.NotifyWatch && n.Method != contract.NotifyEventsLost
}

// Stats counts what a client saw since Dial.
type Stats struct {
	Connects      int    // successful WebSocket handshakes
	Disconnects   int    // connections that ended
	Notifications uint64 // notifications read
	Duplicates    uint64 // event notifications whose seq was ≤ the last one of their conference
	Gaps          uint64 // events skipped: seq jumps beyond last+1 (not counting OnConfEventsLost ranges)
	Lost          uint64 // events reported lost by OnConfEventsLost
	Unmatched     uint64 // responses whose id matched no pending call (e.g. id null)
}

// Client is a connection to the edge; see the package documentation.
type Client struct {
	clientID string
	o        options
	urls     []string

	nextID atomic.Uint64

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	notes  chan Notification
	done   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	cur       *conn
	ready     chan struct{} // closed when cur is set; replaced when cur dies
	urlIdx    int
	lastSeq   map[string]uint64
	watches   map[string]struct{}
	closeCode int
	lastErr   error
	err       error // why the client ended
	stats     Stats
}

// Dial connects to the edge at rawURL (ws://host:8080, http://host:8080 or
// a URL already ending in /client) as clientID, trying each URL of
// WithURLs in turn, and returns when one connection is up.
func Dial(ctx context.Context, rawURL string, clientID string, opts ...Option) (*Client, error) {
	o := options{
		backoffMin:   500 * time.Millisecond,
		backoffMax:   30 * time.Second,
		stableAfter:  10 * time.Second,
		header:       http.Header{},
		resume:       map[string]uint64{},
		buffer:       1024,
		pingInterval: 30 * time.Second,
		readTimeout:  75 * time.Second,
		writeTimeout: 10 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if !contract.ValidClientID(clientID) {
		return nil, fmt.Errorf("client: invalid client id %q (want %s)", clientID, contract.ClientIDPattern)
	}
	if o.dialer == nil {
		o.dialer = &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   1024,
			WriteBufferSize:  1024,
		}
	}
	if o.backoffMin <= 0 {
		o.backoffMin = 10 * time.Millisecond
	}
	if o.backoffMax < o.backoffMin {
		o.backoffMax = o.backoffMin
	}
	c := &Client{
		clientID: clientID,
		o:        o,
		lastSeq:  o.resume,
		watches:  map[string]struct{}{},
		done:     make(chan struct{}),
		ready:    make(chan struct{}),
	}
	for _, u := range append([]string{rawURL}, o.urls...) {
		cu, err := clientURL(u, clientID)
		if err != nil {
			return nil, err
		}
		c.urls = append(c.urls, cu)
	}
	if o.handler == nil {
		c.notes = make(chan Notification, o.buffer)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	var errs []error
	for i := range c.urls {
		cn, err := c.connect(ctx, i)
		if err == nil {
			c.wg.Add(1)
			go c.run(cn)
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	c.cancel()
	return nil, errors.Join(errs...)
}

// Call sends method with params (nil: none; a slice: by position; a struct
// or map: by name) and waits for the response, decoding the result into
// result when it is not nil. A JSON-RPC error is returned as *RPCError. In
// reconnecting mode a call made while disconnected waits for the next
// connection (bounded by ctx).
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	id := c.nextID.Add(1)
	body, err := json.Marshal(request{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("client: encode %s params: %w", method, err)
	}
	key := strconv.FormatUint(id, 10)
	ch := make(chan response, 1)
	var cn *conn
	for {
		if cn, err = c.waitConn(ctx); err != nil {
			return err
		}
		cn.pmu.Lock()
		if !cn.gone {
			cn.pending[key] = ch
			cn.pmu.Unlock()
			break
		}
		cn.pmu.Unlock()
		// The connection died before we sent anything: wait for the next one.
		select {
		case <-cn.dead:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.waitDetached(cn)
	}
	cn.wmu.Lock()
	cn.ws.SetWriteDeadline(time.Now().Add(c.o.writeTimeout))
	err = cn.ws.WriteMessage(websocket.TextMessage, body)
	cn.wmu.Unlock()
	if err != nil {
		cn.ws.Close() // the reader fails every pending call, this one included
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return r.err
		}
		if result != nil {
			if err := json.Unmarshal(r.result, result); err != nil {
				return fmt.Errorf("client: decode %s result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		cn.pmu.Lock()
		delete(cn.pending, key)
		cn.pmu.Unlock()
		return ctx.Err()
	}
}

// waitDetached waits until run has noticed that cn is dead, so waitConn
// does not hand it out again.
func (c *Client) waitDetached(cn *conn) {
	for {
		c.mu.Lock()
		detached := c.cur != cn
		c.mu.Unlock()
		if detached {
			return
		}
		select {
		case <-c.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// Notify sends a JSON-RPC notification (no id; the edge never answers).
func (c *Client) Notify(ctx context.Context, method string, params any) error {
	body, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
	}{"2.0", method, params})
	if err != nil {
		return err
	}
	return c.WriteRaw(ctx, body)
}

// WriteRaw sends data as one text frame, as is: for tests of the edge's
// handling of malformed input. Responses to it with an id the client did
// not issue count as Stats.Unmatched.
func (c *Client) WriteRaw(ctx context.Context, data []byte) error {
	cn, err := c.waitConn(ctx)
	if err != nil {
		return err
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	cn.ws.SetWriteDeadline(time.Now().Add(c.o.writeTimeout))
	return cn.ws.WriteMessage(websocket.TextMessage, data)
}

// Notifications returns the channel of notifications (nil with
// WithHandler). It is closed when the client has ended.
func (c *Client) Notifications() <-chan Notification { return c.notes }

// Done is closed when the client has ended (after Close, or a disconnect
// it does not recover from).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the client ended (nil while it runs).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// CloseCode is the close code of the last disconnect: the edge's code
// (contract.Close*), 1006 when the connection dropped without one, 1000
// after Close; 0 before any disconnect.
func (c *Client) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// LastError is the read error that ended the last connection.
func (c *Client) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// Connected reports whether a connection is up, and to which URL.
func (c *Client) Connected() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return "", false
	}
	return c.cur.url, true
}

// ClientID is the client id given to Dial.
func (c *Client) ClientID() string { return c.clientID }

// LastSeq is the seq of the last event of confID delivered (or reported
// lost), i.e. the resume point the client would send.
func (c *Client) LastSeq(confID string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeq[confID]
}

// ResumePoints returns a copy of every conference's resume point.
func (c *Client) ResumePoints() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]uint64, len(c.lastSeq))
	for k, v := range c.lastSeq {
		m[k] = v
	}
	return m
}

// Forget drops confID from the resume points and the explicit watches (for
// a conference that has ended).
func (c *Client) Forget(confID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.lastSeq, confID)
	delete(c.watches, confID)
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close closes the connection with 1000, stops reconnecting, fails pending
// calls, closes Notifications and waits for every goroutine of the client.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}
