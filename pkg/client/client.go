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
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
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

// RPCError is a JSON-RPC error object returned by the edge.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string {
	if len(e.Data) > 0 {
		return fmt.Sprintf("rpc error %d: %s (data %s)", e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message)
}

// Retryable reports whether the same request may succeed later unchanged,
// per contract.Table. Unknown codes are not retryable.
func (e *RPCError) Retryable() bool {
	spec, ok := contract.SpecOfRPC(e.Code)
	return ok && spec.Retry
}

// Name returns the contract.Code of e ("conf_not_found", …), or "" when the
// code is not in contract.Table.
func (e *RPCError) Name() contract.Code {
	spec, _ := contract.SpecOfRPC(e.Code)
	return spec.Code
}

// HandshakeError is an HTTP answer to the WebSocket upgrade other than 101.
type HandshakeError struct {
	URL        string
	StatusCode int
	Body       string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake with %s: HTTP %d %s", e.URL, e.StatusCode, strings.TrimSpace(e.Body))
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

// Errors.
var (
	// ErrClosed: the client has ended (Close was called, or the connection
	// ended without reconnecting: see Err and CloseCode).
	ErrClosed = errors.New("client: closed")
	// ErrConnectionLost: the connection ended while the call was in flight;
	// whether the edge executed it is unknown.
	ErrConnectionLost = errors.New("client: connection lost")
)

// Option configures Dial.
type Option func(*options)

type options struct {
	urls         []string
	reconnect    bool
	backoffMin   time.Duration
	backoffMax   time.Duration
	stableAfter  time.Duration
	operator     string
	header       http.Header
	dialer       *websocket.Dialer
	resume       map[string]uint64
	buffer       int
	handler      func(Notification)
	pingInterval time.Duration
	readTimeout  time.Duration
	writeTimeout time.Duration
	dedupe       bool
	onConnect    func(url string)
	onDisconnect func(code int, err error)
}

// WithURLs adds edge URLs to rotate across when (re)connecting.
func WithURLs(urls ...string) Option { return func(o *options) { o.urls = append(o.urls, urls...) } }

// WithReconnect turns on reconnecting mode: after any disconnect except
// close code 4000 (replaced), an HTTP 400/403/404 handshake answer, or Close,
// the client reconnects with backoff and resumes.
func WithReconnect() Option { return func(o *options) { o.reconnect = true } }

// WithBackoff sets the reconnect backoff bounds (default 500ms … 30s, full
// jitter; the bound resets after a connection stayed up for 10 s).
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = min, max }
}

// WithOperator passes an operator token (?operator=).
func WithOperator(token string) Option { return func(o *options) { o.operator = token } }

// WithHeader adds HTTP headers to the upgrade request (e.g. Origin).
func WithHeader(h http.Header) Option {
	return func(o *options) {
		for k, vs := range h {
			for _, v := range vs {
				o.header.Add(k, v)
			}
		}
	}
}

// WithDialer sets the gorilla dialer (default: 1 KiB buffers, 10 s handshake timeout).
func WithDialer(d *websocket.Dialer) Option { return func(o *options) { o.dialer = d } }

// WithResume sets the initial resume points (last seq seen per conference),
// e.g. from a previous process.
func WithResume(lastSeq map[string]uint64) Option {
	return func(o *options) {
		for k, v := range lastSeq {
			o.resume[k] = v
		}
	}
}

// WithBuffer sets the capacity of the Notifications channel (default 1024).
// When it is full the client stops reading the socket until there is room
// (responses wait too); the edge then disconnects it as a slow consumer.
func WithBuffer(n int) Option { return func(o *options) { o.buffer = n } }

// WithHandler delivers notifications to h, called on the reading goroutine
// (it must not block for long, nor call Close), instead of the channel.
func WithHandler(h func(Notification)) Option { return func(o *options) { o.handler = h } }

// WithKeepAlive makes the client ping every interval and treat a connection
// as dead when nothing (no message, ping or pong) arrived for timeout.
// Default 30 s / 75 s; WithKeepAlive(0, 0) turns both off.
func WithKeepAlive(interval, timeout time.Duration) Option {
	return func(o *options) { o.pingInterval, o.readTimeout = interval, timeout }
}

// WithWriteTimeout bounds each frame write (default 10 s).
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithDedupe drops event notifications whose seq is not above the last one
// delivered for their conference (they are still counted in Stats.Duplicates).
func WithDedupe() Option { return func(o *options) { o.dedupe = true } }

// WithOnConnect calls f after every handshake (for the first one, on
// Dial's goroutine; later ones on the client's own goroutine).
func WithOnConnect(f func(url string)) Option { return func(o *options) { o.onConnect = f } }

// WithOnDisconnect calls f (on the client's own goroutine) after every
// disconnect with the close code (1006 when there was no close frame, 1000
// after Close) and the cause.
func WithOnDisconnect(f func(code int, err error)) Option {
	return func(o *options) { o.onDisconnect = f }
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

// conn is one WebSocket.
type conn struct {
	ws      *websocket.Conn
	url     string
	started time.Time

	wmu sync.Mutex // serialises data frames

	pmu     sync.Mutex
	pending map[string]chan response
	gone    bool

	dead chan struct{} // closed by the reader after failing pending calls
	code int           // close code, valid after dead
	err  error
}

type response struct {
	result json.RawMessage
	err    error
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

type incoming struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
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

// clientURL turns a base URL into ws(s)://host/…/client/{id}.
func clientURL(raw, clientID string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("client: bad url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("client: bad url %q: scheme must be ws, wss, http or https", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(p, "/client") {
		p += "/client"
	}
	u.Path = p + "/" + clientID
	u.RawPath = ""
	return u.String(), nil
}

// connect dials c.urls[i] with the current resume points and starts the
// connection's goroutines.
func (c *Client) connect(ctx context.Context, i int) (*conn, error) {
	u, _ := url.Parse(c.urls[i])
	q := u.Query()
	if r := c.resumeParam(); r != "" {
		q.Set("resume", r)
	}
	if c.o.operator != "" {
		q.Set("operator", c.o.operator)
	}
	u.RawQuery = q.Encode()
	ws, resp, err := c.o.dialer.DialContext(ctx, u.String(), c.o.header)
	if err != nil {
		if resp != nil {
			var body [512]byte
			n, _ := resp.Body.Read(body[:])
			resp.Body.Close()
			return nil, &HandshakeError{URL: c.urls[i], StatusCode: resp.StatusCode, Body: string(body[:n])}
		}
		return nil, fmt.Errorf("client: dial %s: %w", c.urls[i], err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	cn := &conn{ws: ws, url: c.urls[i], started: time.Now(), pending: map[string]chan response{}, dead: make(chan struct{})}

	c.mu.Lock()
	if c.ctx.Err() != nil { // Close raced with the dial
		c.mu.Unlock()
		ws.Close()
		return nil, ErrClosed
	}
	c.cur = cn
	c.urlIdx = i
	c.stats.Connects++
	close(c.ready)
	c.mu.Unlock()

	c.wg.Add(1)
	go c.read(cn)
	if c.o.pingInterval > 0 {
		c.wg.Add(1)
		go c.ping(cn)
	}
	if c.o.onConnect != nil {
		c.o.onConnect(cn.url)
	}
	return cn, nil
}

// MaxResume is the most conferences a ?resume= list may name (the edge
// refuses longer lists with HTTP 400); the client sends the first MaxResume
// by conference id and relies on re-watching for the others.
const MaxResume = 256

func (c *Client) resumeParam() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.lastSeq))
	for id, seq := range c.lastSeq {
		if seq > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > MaxResume {
		ids = ids[:MaxResume]
	}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(c.lastSeq[id], 10))
	}
	return b.String()
}

// run supervises connections: it waits for the current one to end and
// reconnects when it should; when it returns, the client has ended.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	defer func() {
		if c.notes != nil {
			close(c.notes)
		}
		close(c.done)
	}()
	for {
		select {
		case <-cn.dead:
		case <-c.ctx.Done():
			cn.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			cn.ws.Close()
			<-cn.dead
		}
		c.mu.Lock()
		c.cur = nil
		c.ready = make(chan struct{})
		c.closeCode, c.lastErr = cn.code, cn.err
		c.stats.Disconnects++
		c.mu.Unlock()
		if c.o.onDisconnect != nil {
			c.o.onDisconnect(cn.code, cn.err)
		}
		switch {
		case c.ctx.Err() != nil:
			c.end(ErrClosed)
			return
		case !c.o.reconnect:
			c.end(fmt.Errorf("%w: connection ended (close %d): %v", ErrClosed, cn.code, cn.err))
			return
		case cn.code == contract.CloseReplaced:
			c.end(fmt.Errorf("%w: replaced by a newer connection (close %d)", ErrClosed, cn.code))
			return
		}
		var err error
		cn, err = c.reconnect(time.Since(cn.started) >= c.o.stableAfter)
		if err != nil {
			c.end(err)
			return
		}
	}
}

func (c *Client) end(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// reconnect dials with backoff and full jitter, rotating URLs, until a
// connection is up, Close is called, or the edge refuses for good.
func (c *Client) reconnect(resetBackoff bool) (*conn, error) {
	bound := c.o.backoffMin
	if !resetBackoff {
		bound = min(c.o.backoffMax, 4*c.o.backoffMin)
	}
	c.mu.Lock()
	i := c.urlIdx
	c.mu.Unlock()
	for {
		wait := time.Duration(rand.Int64N(int64(bound) + 1))
		t := time.NewTimer(wait)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil, ErrClosed
		case <-t.C:
		}
		i = (i + 1) % len(c.urls)
		cn, err := c.connect(c.ctx, i)
		if err == nil {
			c.rewatch()
			return cn, nil
		}
		if c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		var he *HandshakeError
		if errors.As(err, &he) && (he.StatusCode == http.StatusBadRequest || he.StatusCode == http.StatusForbidden || he.StatusCode == http.StatusNotFound) {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		bound = min(c.o.backoffMax, 2*bound)
	}
}

// rewatch re-issues the explicit watches on the new connection.
func (c *Client) rewatch() {
	c.mu.Lock()
	type w struct {
		id    string
		since uint64
	}
	var ws []w
	for id := range c.watches {
		ws = append(ws, w{id, c.lastSeq[id]})
	}
	c.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for _, x := range ws {
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			_ = c.Call(ctx, contract.MethodWatchConf, []any{x.id, x.since}, nil)
			cancel()
		}
	}()
}

// read is the connection's only reader.
func (c *Client) read(cn *conn) {
	defer c.wg.Done()
	ws := cn.ws
	extend := func() {
		if c.o.readTimeout > 0 {
			ws.SetReadDeadline(time.Now().Add(c.o.readTimeout))
		}
	}
	extend()
	ws.SetPongHandler(func(string) error { extend(); return nil })
	ws.SetPingHandler(func(data string) error {
		extend()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.o.writeTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})
	var err error
	for {
		var data []byte
		_, data, err = ws.ReadMessage()
		if err != nil {
			break
		}
		extend()
		if !c.dispatch(cn, data) {
			err = ErrClosed
			break
		}
	}
	ws.Close()
	cn.code = websocket.CloseAbnormalClosure
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		cn.code = ce.Code
	}
	if c.ctx.Err() != nil {
		cn.code = websocket.CloseNormalClosure
	}
	cn.err = err
	cn.pmu.Lock()
	cn.gone = true
	for id, ch := range cn.pending {
		ch <- response{err: fmt.Errorf("%w (close %d): %v", ErrConnectionLost, cn.code, err)}
		delete(cn.pending, id)
	}
	cn.pmu.Unlock()
	close(cn.dead)
}

// dispatch handles one frame; it returns false when the client is closing.
func (c *Client) dispatch(cn *conn, data []byte) bool {
	var m incoming
	if err := json.Unmarshal(data, &m); err != nil {
		c.mu.Lock()
		c.stats.Unmatched++
		c.mu.Unlock()
		return true
	}
	if m.Method != "" && len(m.ID) == 0 {
		return c.notify(m.Method, m.Params)
	}
	key := string(m.ID)
	cn.pmu.Lock()
	ch, ok := cn.pending[key]
	delete(cn.pending, key)
	cn.pmu.Unlock()
	if !ok {
		c.mu.Lock()
		c.stats.Unmatched++
		c.mu.Unlock()
		return true
	}
	if m.Error != nil {
		ch <- response{err: m.Error}
	} else {
		ch <- response{result: m.Result}
	}
	return true
}

func (c *Client) notify(method string, params json.RawMessage) bool {
	n := Notification{Method: method, Params: params, Received: time.Now()}
	var p struct {
		ConfID string `json:"confid"`
		Seq    uint64 `json:"seq"`
		From   uint64 `json:"from"`
		To     uint64 `json:"to"`
	}
	_ = json.Unmarshal(params, &p) // params of unknown shape still reach the caller
	n.ConfID, n.Seq = p.ConfID, p.Seq
	c.mu.Lock()
	c.stats.Notifications++
	if n.ConfID != "" {
		last := c.lastSeq[n.ConfID]
		switch method {
		case contract.NotifyWatch:
		case contract.NotifyEventsLost:
			n.Seq = 0
			if p.To >= p.From && p.From > 0 {
				c.stats.Lost += p.To - p.From + 1
			}
			if p.To > last {
				c.lastSeq[n.ConfID] = p.To
			}
		default:
			if n.Seq > 0 {
				if n.Seq <= last {
					c.stats.Duplicates++
					if c.o.dedupe {
						c.mu.Unlock()
						return true
					}
				} else {
					if n.Seq > last+1 {
						c.stats.Gaps += n.Seq - last - 1
					}
					c.lastSeq[n.ConfID] = n.Seq
				}
			}
		}
	}
	c.mu.Unlock()
	if c.o.handler != nil {
		c.o.handler(n)
		return true
	}
	select {
	case c.notes <- n:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// ping sends a ping every interval until the connection dies.
func (c *Client) ping(cn *conn) {
	defer c.wg.Done()
	t := time.NewTicker(c.o.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.dead:
			return
		case <-t.C:
			if err := cn.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.o.writeTimeout)); err != nil {
				cn.ws.Close()
				return
			}
		}
	}
}

// waitConn returns the current connection, waiting for a reconnect if needed.
func (c *Client) waitConn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		cn, ready, err := c.cur, c.ready, c.err
		c.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-ready:
		case <-c.done:
			c.mu.Lock()
			err = c.err
			c.mu.Unlock()
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
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
