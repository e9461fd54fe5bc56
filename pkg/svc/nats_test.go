package svc

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A NATS server cut off by the network must be given up within seconds,
// not nats.go's minutes.
func TestConnectNoticesAnUnreachableServer(t *testing.T) {
	// Nothing listens there: Connect returns at once and keeps retrying.
	c, err := Connect(NATS{URL: "nats://127.0.0.1:1", Name: "test"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.Opts
	if d := o.PingInterval * time.Duration(o.MaxPingsOut+1); d <= 0 || d > 10*time.Second {
		t.Errorf("ping every %s, %d outstanding: a dead server is noticed after %s, want at most 10 s", o.PingInterval, o.MaxPingsOut, d)
	}
}
