package svc

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ops is a service's operations surface.
type Ops struct {
	// Live fails when the process should be restarted (nil: never).
	Live func() error
	// Ready fails while the service should get no traffic (nil: never).
	Ready func(ctx context.Context) error
	// Registry is the service's own Prometheus registry: the local stack
	// runs every service in one process, where the global one would refuse
	// the second service's metrics.
	Registry *prometheus.Registry
}

// probeTimeout bounds one readiness check.
const probeTimeout = 2 * time.Second

// Handler is the ops listener's handler: /healthz, /readyz and /metrics.
// Metrics are served here only, never on a public listener.
func (o Ops) Handler() http.Handler {
	mux := http.NewServeMux()
	o.Probes(mux)
	if o.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	}
	return mux
}

// Probes adds /healthz and /readyz to mux. A public listener has them too,
// so a load balancer checks the port it balances.
func (o Ops) Probes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		var err error
		if o.Live != nil {
			err = o.Live()
		}
		answer(w, err, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		var err error
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
			defer cancel()
			err = o.Ready(ctx)
		}
		answer(w, err, "ready\n")
	})
}

func answer(w http.ResponseWriter, err error, ok string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: "+err.Error()+"\n")
		return
	}
	_, _ = io.WriteString(w, ok)
}

// HTTPLimits are an HTTP server's connection timeouts and header limit.
type HTTPLimits struct {
	// ReadHeader bounds reading a request's headers: a client that
	// trickles them is cut.
	ReadHeader time.Duration
	// Read bounds reading a whole request; 0 = ReadHeader only.
	Read time.Duration
	// Write bounds writing a response, from the end of the request's
	// headers; 0 = none. A hijacked connection (a WebSocket) is past both:
	// net/http clears its deadlines, and its owner sets its own.
	Write time.Duration
	// Idle closes a keep-alive connection that sends no next request.
	Idle time.Duration
	// MaxHeaderBytes bounds a request's headers; 0 = net/http's 1 MiB.
	MaxHeaderBytes int
}

// DefaultLimits are the limits of a service's listeners unless it sets
// others.
var DefaultLimits = HTTPLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: time.Minute}

// Declare declares -read-header-timeout and -idle-timeout, the timeouts of
// every listener of a service an operator tunes (behind a load balancer,
// the idle timeout should exceed the balancer's keep-alive).
func (t *HTTPLimits) Declare(f *Flags) {
	f.Duration(&t.ReadHeader, "read-header-timeout", "HTTP: a client must send a request's headers within this")
	f.Duration(&t.Idle, "idle-timeout", "HTTP: a keep-alive connection with no next request is closed after this")
}

// NewHTTPServer is every HTTP server of the workspace: h within limits t.
func NewHTTPServer(h http.Handler, t HTTPLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    t.MaxHeaderBytes,
	}
}
