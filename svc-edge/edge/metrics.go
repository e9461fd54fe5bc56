package edge

import (
	"time"

	"confapplet/pkg/contract"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics live in the server's own registry: the local stack runs every
// service in one process, and the global registry would refuse duplicates.
type metrics struct {
	reg            *prometheus.Registry
	conns          prometheus.Gauge
	connsTotal     prometheus.Counter
	rejected       *prometheus.CounterVec // reason: max_conns, bad_client_id, bad_resume, auth, origin, handshake, shutting_down
	disconnects    *prometheus.CounterVec // reason: client, replaced, slow, no_pong, too_big, shutdown, error
	requests       *prometheus.CounterVec // method, outcome
	latency        *prometheus.HistogramVec
	confSubs       prometheus.Gauge
	watches        prometheus.Gauge
	eventsIn       prometheus.Counter
	eventLag       prometheus.Histogram
	eventsOut      prometheus.Counter
	eventsLost     prometheus.Counter
	replayed       prometheus.Counter
	fetchFailures  prometheus.Counter
	queueOverflows prometheus.Counter
}

func newMetrics() *metrics {
	const ns = "confapplet_edge"
	m := &metrics{
		reg:         prometheus.NewRegistry(),
		conns:       prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections", Help: "Live WebSocket connections."}),
		connsTotal:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connections_total", Help: "WebSocket connections accepted."}),
		rejected:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_total", Help: "Connection attempts refused, by reason."}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "disconnects_total", Help: "Connections ended, by reason (slow = slow-client disconnects)."}, []string{"reason"}),
		requests:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total", Help: "JSON-RPC requests, by method and outcome (ok or the error code name)."}, []string{"method", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds", Help: "Time from dequeue to response, by method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"method"}),
		confSubs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "conference_subscriptions", Help: "NATS subscriptions to conf.<id>.events held."}),
		watches:  prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "watches", Help: "(session, conference) watches."}),
		eventsIn: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_received_total", Help: "Stored events read for live fan-out."}),
		eventLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "event_lag_seconds",
			Help:    "Time from an event's storing in the events stream (svc-callback's publish of a platform callback) to this edge receiving it (republished by the stream, or read from it) for live fan-out.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		eventsOut:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_delivered_total", Help: "Event notifications queued to sessions (live and replayed)."}),
		eventsLost:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_lost_notices_total", Help: "OnConfEventsLost notifications sent."}),
		replayed:       prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_replayed_total", Help: "Events replayed from the stream on watch/resume."}),
		fetchFailures:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "stream_read_failures_total", Help: "Failed reads of the events stream."}),
		queueOverflows: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "request_queue_overflows_total", Help: "Requests refused with -32002 because the connection's queue was full."}),
	}
	// Every disconnect reason is exported from the start, at 0: a rate or an
	// alert over a series that appears only with its first event sees
	// nothing until then (slow-consumer alerts and the dashboard's panel).
	m.disconnects.WithLabelValues("client")
	for code := range contract.Closes {
		m.disconnects.WithLabelValues(closeReason(code))
	}
	m.reg.MustRegister(m.conns, m.connsTotal, m.rejected, m.disconnects, m.requests, m.latency, m.confSubs, m.watches,
		m.eventsIn, m.eventLag, m.eventsOut, m.eventsLost, m.replayed, m.fetchFailures, m.queueOverflows,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// methodLabel bounds the method label to known methods.
func methodLabel(method string) string {
	if _, ok := contract.Methods[method]; ok {
		return method
	}
	return "other"
}

// observeLag records the lag of an event the stream stored at stored (zero:
// the read did not say). Observe takes no allocation: it runs per event.
func (m *metrics) observeLag(stored time.Time) {
	if !stored.IsZero() {
		m.eventLag.Observe(time.Since(stored).Seconds())
	}
}

func (m *metrics) observe(method, outcome string, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(method, outcome).Inc()
	m.latency.WithLabelValues(method).Observe(d.Seconds())
}
