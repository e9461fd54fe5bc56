package edge

import (
	"io/fs"
	"net/http"

	"confapplet/svc-edge/web"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is every HTTP route of the edge.
func (srv *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /client/{client_id}", srv.serveWS)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", srv.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(srv.metrics.reg, promhttp.HandlerOpts{Registry: srv.metrics.reg}))
	mux.Handle("GET /", http.FileServerFS(page()))
	return mux
}

// readyz is 200 while NATS is connected and the edge is not shutting down.
func (srv *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	srv.mu.Lock()
	closing := srv.closing
	srv.mu.Unlock()
	if closing || !srv.nc.IsConnected() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// page is the browser page (package web).
func page() fs.FS { return web.FS }
