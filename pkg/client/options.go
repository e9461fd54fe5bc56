package client

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
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
	token        func(ctx context.Context) (string, error)
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

// WithToken sets the connection token (a JWT, docs/protocol.md §1.2a) sent
// in the Authorization header of every upgrade request.
func WithToken(token string) Option {
	return WithTokenSource(func(context.Context) (string, error) { return token, nil })
}

// WithTokenSource asks f for the connection token before every connect and
// reconnect (e.g. from the application's back end), so a reconnect after
// an expiry (close code 4004) presents a fresh one, and, on an open
// connection, when three quarters of the token's lifetime have passed: the
// fresh token is sent in-band (RefreshToken), so the edge keeps the
// connection past the first token's exp.
func WithTokenSource(f func(ctx context.Context) (string, error)) Option {
	return func(o *options) { o.token = f }
}

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
