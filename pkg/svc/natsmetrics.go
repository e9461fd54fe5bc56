package svc

import (
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// natsCollectors are a service's view of its NATS connection, exported
// with its own metrics: nats-server's monitoring endpoints (/varz, /jsz)
// are not in Prometheus format, and what an operator needs first is
// whether each service is connected (docs/operations.md, "Dashboards and
// alerts"). They read the connection's state at scrape time: nothing is
// counted on the message path.
func natsCollectors(nc *nats.Conn) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "confapplet", Subsystem: "nats", Name: "connected",
			Help: "1 while the service's NATS connection is up, 0 while it is disconnected or reconnecting.",
		}, func() float64 {
			if nc.IsConnected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "nats", Name: "reconnects_total",
			Help: "Times the service's NATS connection was made again (to the same or another server).",
		}, func() float64 { return float64(nc.Stats().Reconnects) }),
	}
}

// registerNATS adds the connection's collectors to reg once.
func registerNATS(reg *prometheus.Registry, nc *nats.Conn) error {
	for _, c := range natsCollectors(nc) {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			return err
		}
	}
	return nil
}
