package callback

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes of one callback (label "outcome" of callbacks_total).
const (
	outcomePublished   = "published"   // stored, 200
	outcomeDuplicate   = "duplicate"   // a retry of a stored event, 200
	outcomeBadRequest  = "bad_request" // body unreadable, 400
	outcomeUnparsed    = "unparsed"    // kept raw but not understood, 200 (svc-callback reprocess)
	outcomeTooLarge    = "too_large"   // body over the limit, 413
	outcomeUnavailable = "unavailable" // NATS/JetStream failed (and no spool took it), 503
	outcomeSpooled     = "spooled"     // the store did not answer: kept on local disk, 200 (spool.go)
	outcomeNotFound    = "not_found"   // wrong secret or unknown kind, 404
	outcomeDenied      = "denied"      // source address not allowed, 403
	outcomeBadMethod   = "bad_method"  // not GET or POST, 405
)

// kindUnknown labels callbacks whose kind is not (yet) known to be valid,
// so arbitrary paths cannot grow label cardinality.
const kindUnknown = "unknown"

type metrics struct {
	reg        *prometheus.Registry
	callbacks  *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	latency    prometheus.Histogram
	conflicts  prometheus.Counter
	reads      prometheus.Counter
	forwarded  prometheus.Counter
}

// newMetrics registers svc-callback's metrics in a registry of its own
// (never the global one: the local stack runs every service in one process).
func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "callback", Name: "callbacks_total",
			Help: "Platform callbacks received, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "callback", Name: "duplicates_total",
			Help: "Callbacks recognised as retries of an already stored event, by kind.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "confapplet", Subsystem: "callback", Name: "publish_seconds",
			Help:    "Time to store one event in JetStream (last-event read, publish, ack, retries).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "callback", Name: "sequence_conflicts_total",
			Help: "Publishes refused because another writer stored an event of the same conference first (retried).",
		}),
		reads: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "confapplet", Subsystem: "callback", Name: "last_event_reads_total",
			Help: "Reads of a conference's last stored event (cache misses, conflicts, retry checks); the steady path publishes without one.",
		}),
	}
	m.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "confapplet", Subsystem: "callback", Name: "spool_forwarded_total",
		Help: "Spooled callbacks stored once the event store answered again.",
	})
	m.reg.MustRegister(m.callbacks, m.duplicates, m.latency, m.conflicts, m.reads, m.forwarded,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
