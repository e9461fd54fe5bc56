package conference

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics live in the service's own registry (DESIGN-NOTES: the local
// stack runs every service in one process).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec   // method, outcome ("ok" or a contract.Code), as the edge counts them
	duration  *prometheus.HistogramVec // method
	inflight  prometheus.Gauge
	platform  *prometheus.HistogramVec // command, outcome
	events    *prometheus.CounterVec   // kind, outcome
	refusals  *prometheus.CounterVec   // reason
	idem      *prometheus.CounterVec   // outcome
	conflicts prometheus.Counter
	viewReads *prometheus.CounterVec // outcome: hit (answered from the view), kv (read from the KV)
	results   *prometheus.CounterVec // outcome: joined, failed (invitation results applied)
	pending   prometheus.Gauge       // events stored and not yet delivered to the state's consumer
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "requests_total",
			Help: "Requests answered, by method and outcome (ok or a contract error code).",
		}, []string{"method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "request_duration_seconds",
			Help:    "Time from receiving a request to answering it.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "inflight_requests",
			Help: "Requests executing now (bounded by the concurrency setting).",
		}),
		platform: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "platform_request_duration_seconds",
			Help:    "Platform REST calls by command and outcome (ok, platform_error, platform_unavailable, timeout).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"command", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "events_total",
			Help: "Conference events by kind and outcome (applied, early, orphan, retry, bad).",
		}, []string{"kind", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "guard_refusals_total",
			Help: "Invitations and creations refused by the toll-fraud guard, by code.",
		}, []string{"code"}),
		idem: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "idempotency_total",
			Help: "Idempotency-key lookups that found an earlier request (replay, wait, conflict, takeover).",
		}, []string{"outcome"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "kv_revision_conflicts_total",
			Help: "Conference record updates retried after a revision conflict.",
		}),
		viewReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "view_reads_total",
			Help: "Record reads of the read methods: hit (answered from the in-memory view) or kv (the view could not answer).",
		}, []string{"outcome"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "call_results_total",
			Help: "Invitation results applied to the state: joined (answered) or failed (busy, no answer, invalid, cancelled…).",
		}, []string{"outcome"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "events_pending",
			Help: "Events in the stream not yet delivered to the state's consumer, as of the last event this instance received (0 when caught up).",
		}),
	}
	for _, o := range []string{"joined", "failed"} {
		m.results.WithLabelValues(o) // exported from the start, so rate() sees the first one
	}
	m.reg.MustRegister(m.results, m.pending, m.viewReads, m.requests, m.duration, m.inflight, m.platform, m.events, m.refusals, m.idem, m.conflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchView exports the conferences and calls the view holds: every
// instance's view holds every record, so each instance reports the whole
// service's figures (aggregate with max, not sum).
func (m *metrics) watchView(v *confView) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "conferences_live",
			Help: "Conferences with a record (created and not yet deleted by the platform), in the whole service.",
		}, func() float64 { return float64(v.size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "confapplet", Subsystem: "conference", Name: "calls_live",
			Help: "Calls ringing or joined in the whole service (what max-live-calls limits).",
		}, func() float64 { n, _ := v.liveCalls(); return float64(n) }),
	)
}
