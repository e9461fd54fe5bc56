package svc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// NATS is how a service connects to NATS.
type NATS struct {
	URL  string // server URL(s), comma-separated
	Name string // connection name, as the server's monitoring shows it
	// OnAsyncError, when set, is called after an asynchronous error is
	// logged (the edge resynchronises after a slow-consumer error).
	OnAsyncError func(error)
	// Options are added after the common ones (svc-callback's
	// nats.ReconnectBufSize(-1)).
	Options []nats.Option
}

// Conn is a NATS connection made by Connect.
type Conn struct {
	*nats.Conn
	closed chan struct{}
	log    zerolog.Logger
}

// A client pings its server every pingInterval and gives the connection up
// after maxPingsOut unanswered pings: a server cut off by the network (a
// partition, a dead host: no FIN, no RST) is noticed within about 6 s and
// the client reconnects to another node, where nats.go's defaults (2 min, 2
// pings) left a service waiting on it for minutes. The container fault test
// (deploy/clustertest/docker_test.go) partitions a NATS node.
const (
	pingInterval = 2 * time.Second
	maxPingsOut  = 2
)

// Connect connects with the options every service shares: reconnect
// forever, also when the first attempt fails (Connect returns at once then,
// and the connection comes up when NATS does), notice an unreachable server
// within seconds, and log lines for disconnect, reconnect, close and
// asynchronous errors.
func Connect(cfg NATS, log zerolog.Logger) (*Conn, error) {
	c := &Conn{closed: make(chan struct{}), log: log}
	opts := append([]nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn().Err(err).Msg("nats disconnected") }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Err(err).Msg("nats error")
			if cfg.OnAsyncError != nil {
				cfg.OnAsyncError(err)
			}
		}),
	}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", cfg.URL, err)
	}
	c.Conn = nc
	return c, nil
}

// WaitConnected waits until the connection is up, ctx ends or max passes.
func (c *Conn) WaitConnected(ctx context.Context, max time.Duration) error {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !c.IsConnected() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("nats: not connected after %s", max)
		case <-t.C:
		}
	}
	return nil
}

// Drain drains the connection (the subscriptions' pending messages are
// handled, then publishes are flushed) and waits until it is closed or ctx
// ends, then closes it: after Drain nothing of the connection runs.
func (c *Conn) Drain(ctx context.Context) {
	// The disconnect a drain ends with is no news.
	c.SetDisconnectErrHandler(nil)
	c.SetReconnectHandler(nil)
	if err := c.Conn.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		c.log.Warn().Err(err).Msg("nats drain")
		c.Close()
	}
	select {
	case <-c.closed:
	case <-ctx.Done():
		c.log.Warn().Msg("nats drain did not finish in time: closing")
		c.Close()
		select {
		case <-c.closed:
		case <-time.After(time.Second):
		}
	}
}
