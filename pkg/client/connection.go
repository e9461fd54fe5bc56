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
	"time"

	"confapplet/pkg/contract"

	"github.com/gorilla/websocket"
)

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
	header := c.o.header
	var tok string
	if c.o.token != nil {
		var err error
		if tok, err = c.o.token(ctx); err != nil {
			return nil, fmt.Errorf("client: connection token: %w", err)
		}
		header = header.Clone()
		header.Set("Authorization", "Bearer "+tok)
	}
	ws, resp, err := c.o.dialer.DialContext(ctx, u.String(), header)
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
	if !tokenExp(tok).IsZero() {
		c.wg.Add(1)
		go c.renew(cn, tok)
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
